"""Synthetic talking faces: the embedded default dataset (no downloads, lip sync by design)."""

from tfds_builders.synthetic_talking_faces.synthetic_talking_faces_dataset_builder import Builder

__all__ = ["Builder"]
