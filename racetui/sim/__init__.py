"""racetui.sim"""
