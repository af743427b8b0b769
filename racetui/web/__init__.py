"""The dashboard in a web browser: textual-serve's server, made safe to share.

Only :mod:`racetui.web.server` imports textual-serve (an optional dependency, the ``serve``
extra); nothing here imports Textual: each browser tab runs the dashboard as its own
``racetui`` process.
"""
