"""racetui.sources"""
