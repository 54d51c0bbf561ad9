"""Held-out evaluation of each stage: reconstructions and lip sync from rendered pixels."""
