from racetui.cli import main

raise SystemExit(main())
