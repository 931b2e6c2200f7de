"""Bone-fracture X-ray decision support: the library behind the dashboard (no UI code)."""
