"""A dub next to its source, frame for frame, to see what changed."""

from __future__ import annotations

import tempfile

import numpy as np

from diffdub_jax.data import video
from diffdub_jax.data.pixels import side_by_side


def write_side_by_side(source_path: str, dub_path: str, schedule: np.ndarray, output_path: str) -> None:
    """An mp4 of source | dub with the dub's audio: output frame t shows source frame schedule[t]
    (the dub's DubResult.schedule, so a video extended to longer speech lines up too)."""
    with tempfile.TemporaryDirectory(prefix="diffdub_compare_") as scratch:
        info, source = video.decode_video(source_path, scratch)
        frames = (side_by_side(np.asarray(source[s]), dubbed)
                  for s, dubbed in zip(schedule, video.read_frames(dub_path)))
        video.write_video(output_path, frames, info.fps, audio_path=dub_path)
