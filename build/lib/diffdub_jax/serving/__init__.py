"""Serving: the trained stages as jitted, fixed-batch services, and the audio frontend."""
