"""Data: mask geometry, augmentations, audio front end, datasets and input pipelines."""
