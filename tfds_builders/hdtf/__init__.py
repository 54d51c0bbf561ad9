"""HDTF from a manual download: the real-data set the release trains and tests on."""

from tfds_builders.hdtf.hdtf_dataset_builder import Builder

__all__ = ["Builder"]
