"""racetui: a terminal dashboard for live race monitoring."""

__version__ = "0.1.0"
