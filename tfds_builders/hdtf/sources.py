"""What a user's HDTF manual dir holds, as clip sources and a list of what is missing or unreadable.

Two forms (both may be present; a clip found in both is taken from the cut clips):
- the release as published: `HDTF_dataset/*.txt` next to the downloaded source videos, named
  `<GROUP>_<Name>.<ext>` or `<GROUP>/<Name>.<ext>` (any container ffmpeg reads), anywhere below;
- already-cut clips `<GROUP>_<Name>_<index>.<ext>`, framed with the authors' recipe.
"""

from __future__ import annotations

import os
import re

from diffdub_jax.data import video
from diffdub_jax.errors import MissingFileError
from tfds_builders.hdtf import metadata
from tfds_builders.hdtf.clips import ClipSource

# The 25 clips the release holds out for testing (DESIGN §2.5).
TEST_CLIPS = frozenset({
    "WDA_BernieSanders_000", "WRA_CoryGardner0_000", "WDA_ChrisVanHollen0_000", "WDA_RonWyden1_000",
    "WDA_CarolynMaloney1_000", "WRA_MikeEnzi_000", "WDA_MikeDoyle_000", "RD_Radio34_006", "RD_Radio51_000",
    "RD_Radio30_000", "WRA_LamarAlexander0_000", "RD_Radio35_000", "WRA_BillCassidy0_000", "RD_Radio34_007",
    "RD_Radio56_000", "RD_Radio34_008", "RD_Radio34_005", "WRA_PeterRoskam0_000", "WRA_LamarAlexander_000",
    "RD_Radio43_000", "RD_Radio45_000", "RD_Radio28_000", "RD_Radio41_000", "RD_Radio32_000", "RD_Radio50_000",
})
_CUT_CLIP = re.compile(rf"^({'|'.join(metadata.GROUPS)})_(.+)_(\d+)$")


def _videos(manual_dir: str) -> dict[str, str]:
    """stem -> path of every video file below manual_dir; a file in a `<GROUP>/` folder is also
    known as `<GROUP>_<stem>`."""
    found = {}
    for directory, _, names in sorted(os.walk(manual_dir)):
        group = os.path.basename(directory)
        for name in sorted(names):
            stem, extension = os.path.splitext(name)
            if extension.lower() not in video.VIDEO_EXTENSIONS or name.startswith("."):
                continue
            path = os.path.join(directory, name)
            found.setdefault(stem, path)
            if group in metadata.GROUPS and not stem.startswith(f"{group}_"):
                found.setdefault(f"{group}_{stem}", path)
    return found


def find_clips(manual_dir: str) -> tuple[list[ClipSource], list[tuple[str, str]]]:
    """Every clip the manual dir holds, by name, and (clip or file, reason) for what is listed in
    the metadata but absent, or cannot be read from the metadata."""
    if not os.path.isdir(manual_dir):
        raise MissingFileError(f"HDTF manual dir {manual_dir} does not exist")
    videos = _videos(manual_dir)
    clips: dict[str, ClipSource] = {}
    problems: list[tuple[str, str]] = []
    for stem, path in videos.items():
        match = _CUT_CLIP.match(stem)
        if match:
            name = metadata.clip_name(match.group(1), match.group(2), int(match.group(3)))
            clips.setdefault(name, ClipSource(name, path))
    metadata_dir = os.path.join(manual_dir, metadata.METADATA_DIR)
    if os.path.isdir(metadata_dir):
        entries, problems = metadata.read_release(metadata_dir)
        for entry in entries:
            if entry.name in clips:
                continue
            path = videos.get(f"{entry.group}_{entry.video}")
            if path is None:
                problems.append((entry.name, f"its video {entry.group}_{entry.video}.* is not in the manual dir"))
                continue
            clips[entry.name] = ClipSource(entry.name, path, entry.start, entry.end, entry.window)
    return [clips[name] for name in sorted(clips)], problems


def split_of(name: str) -> str:
    return "test" if name in TEST_CLIPS else "train"
