"""Metrics: lip sync measured from pixels (synthetic set); image and sync metrics later."""
