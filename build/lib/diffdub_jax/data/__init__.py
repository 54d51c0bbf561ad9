"""Data: media (audio, video), faces, masks, framing, augmentations, datasets and input pipelines; no models."""
