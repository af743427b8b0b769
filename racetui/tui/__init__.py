"""racetui.tui"""
