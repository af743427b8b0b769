"""The dashboard: the only package that imports Textual.

Import :mod:`racetui.tui.app` (``RaceApp``) lazily from command modules; this package's
``__init__`` stays light so ``import racetui.tui`` costs nothing.
"""
