"""Subcommands of the racetui CLI: one module each, with add_arguments() and run()."""
