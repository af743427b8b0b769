"""The dashboard's screens: one Textual mode each (keys 1–7), plus modals."""
