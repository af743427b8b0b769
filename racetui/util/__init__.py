"""Small helpers every layer may use: secrets scrubbing, retry timing.

Nothing here imports another racetui package, so any layer can import it.
"""
