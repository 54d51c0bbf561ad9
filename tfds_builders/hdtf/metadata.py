"""HDTF's published metadata (MRzzm/HDTF, `HDTF_dataset/`), parsed into one record per talking clip.

Per group (RD, WDA, WRA) five hand-made text files, one `name value...` line each:

    {G}_video_url.txt       Name.mp4 https://www.youtube.com/watch?v=...
    {G}_annotion_time.txt   Name.mp4 mm:ss-mm:ss mm:ss-mm:ss ...   (segment k is clip Name_k)
    {G}_crop_wh.txt         Name_k.mp4 x0 width y0 height         (face window at the annotated resolution)
    {G}_crop_ratio.txt      Name_k.mp4 ratio                      (zoom of that window)
    {G}_resolution.txt      Name.mp4 720|1080                     (the height the window refers to)

Expect a UTF-8 BOM, CRLF line ends, trailing spaces, and names present in one file and absent from
another: every file is optional per clip except the time stamps, and a line that cannot be read is
reported (file, line, reason), never fatal.
"""

from __future__ import annotations

import dataclasses
import os
import re

GROUPS = ("RD", "WDA", "WRA")
METADATA_DIR = "HDTF_dataset"
_TIME = re.compile(r"^(\d+(?::\d+){0,2}(?:\.\d+)?)-(\d+(?::\d+){0,2}(?:\.\d+)?)$")


@dataclasses.dataclass(frozen=True)
class Window:
    """The published face window in pixels of a video `height` px high, and its zoom."""

    x0: float
    y0: float
    width: float
    height: float
    ratio: float
    resolution: int | None  # the video height the window refers to; None if not published


@dataclasses.dataclass(frozen=True)
class ClipEntry:
    """One annotated talking clip: `<group>_<video>_<index:03d>`, seconds [start, end) of the video."""

    group: str
    video: str  # the source video's name, without extension
    index: int
    start: float
    end: float
    window: Window | None

    @property
    def name(self) -> str:
        return clip_name(self.group, self.video, self.index)


def clip_name(group: str, video: str, index: int) -> str:
    """The release's clip names: `WDA_BernieSanders_000`, `RD_Radio34_006`."""
    return f"{group}_{video}_{index:03d}"


def seconds(stamp: str) -> float:
    """'mm:ss', 'hh:mm:ss' or 'ss' (fractions allowed) -> seconds."""
    total = 0.0
    for part in stamp.split(":"):
        total = total * 60 + float(part)
    return total


def _lines(path: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a metadata file; BOM, CR and blank lines dropped."""
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        return [(number, line.split()) for number, line in enumerate(handle, 1) if line.strip()]


def _stem(field: str) -> str:
    return os.path.splitext(field)[0]


def read_release(metadata_dir: str) -> tuple[list[ClipEntry], list[tuple[str, str]]]:
    """Every annotated clip of the groups present in metadata_dir, and (where, reason) for each
    line that could not be read (`RD_annotion_time.txt:12`, 'bad time stamp ...')."""
    clips, problems = [], []
    for group in GROUPS:
        def path(kind: str) -> str:
            return os.path.join(metadata_dir, f"{group}_{kind}.txt")

        windows, ratios, resolutions = {}, {}, {}
        for number, fields in _lines(path("crop_wh")):
            try:
                x0, width, y0, height = (float(value) for value in fields[1:5])
                if len(fields) != 5 or width <= 0 or height <= 0:
                    raise ValueError
                windows[_stem(fields[0])] = (x0, y0, width, height)
            except ValueError:
                problems.append((f"{group}_crop_wh.txt:{number}", f"expected 'Name_k.mp4 x0 width y0 height', "
                                                                 f"got {' '.join(fields)!r}"))
        for number, fields in _lines(path("crop_ratio")):
            try:
                ratios[_stem(fields[0])] = float(fields[1])
            except (ValueError, IndexError):
                problems.append((f"{group}_crop_ratio.txt:{number}", f"expected 'Name_k.mp4 ratio', "
                                                                    f"got {' '.join(fields)!r}"))
        for number, fields in _lines(path("resolution")):
            try:
                resolutions[_stem(fields[0])] = int(float(fields[1]))
            except (ValueError, IndexError):
                problems.append((f"{group}_resolution.txt:{number}", f"expected 'Name.mp4 720|1080', "
                                                                    f"got {' '.join(fields)!r}"))
        for number, fields in _lines(path("annotion_time")):
            video = _stem(fields[0])
            segments = []
            for stamp in fields[1:]:
                match = _TIME.match(stamp)
                if match is None or seconds(match.group(2)) <= seconds(match.group(1)):
                    segments = None
                    break
                segments.append((seconds(match.group(1)), seconds(match.group(2))))
            if not segments:
                problems.append((f"{group}_annotion_time.txt:{number}",
                                 f"expected 'Name.mp4 mm:ss-mm:ss ...' with each end after its start, "
                                 f"got {' '.join(fields)!r}"))
                continue
            for index, (start, end) in enumerate(segments):
                key = f"{video}_{index}"
                window = None
                if key in windows:
                    window = Window(*windows[key], ratio=ratios.get(key, 1.0), resolution=resolutions.get(video))
                clips.append(ClipEntry(group, video, index, start, end, window))
    return clips, problems
