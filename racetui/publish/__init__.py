"""racetui.publish"""
