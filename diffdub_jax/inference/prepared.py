"""A source video prepared once for every dub of it: decoded frames, the face track, the crops at
the renderer's size, and the encoder codes of reference frames.

All of it depends only on the video, the framing (renderer size, crop scale, which face) and the
renderer checkpoint, never on the speech; so the same video dubbed with new speech starts at the
audio. Entries are kept in a cache folder (default: the user's cache dir), keyed by the video's
content hash and those settings, bounded in size with the least recently used entry out first.
An entry is written to a temporary folder and renamed when complete; on use its files are checked
against the sizes its manifest records, and a damaged entry is rebuilt, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from typing import Callable

import numpy as np

from diffdub_jax.data import faces, video
from diffdub_jax.errors import UserError

MANIFEST = "prepared.json"
DEFAULT_MAX_BYTES = 20 * 2**30
ARRAYS = ("frames", "crops", "found", "landmarks")


def default_cache_dir() -> str:
    """$XDG_CACHE_HOME (or ~/.cache)/diffdub_jax/prepared."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache_home, "diffdub_jax", "prepared")


class NoFaceError(UserError, ValueError):
    """No face was found in any frame of the source video."""


@dataclasses.dataclass
class PreparedVideo:
    """frames (T, H, W, 3) and crops (T, S, S, 3) uint8 (memory-mapped), the fixed crop box, found
    (T,) and landmarks (T, 68, 2) at the crop size S; codes of reference frames by their indices."""

    info: video.VideoInfo
    box: faces.CropBox
    frames: np.ndarray
    crops: np.ndarray
    found: np.ndarray
    landmarks: np.ndarray
    directory: str
    cached: bool  # whether it came from the cache

    def reference_codes(self, indices: np.ndarray, encode) -> np.ndarray:
        """encode(indices) (the renderer's codes of those frames' encoder crops), kept in the entry."""
        path = os.path.join(self.directory, f"codes_{hashlib.sha1(np.asarray(indices).tobytes()).hexdigest()}.npy")
        try:
            return np.load(path)
        except (OSError, ValueError):
            codes = np.asarray(encode(indices))
            _save_whole(path, codes)
            return codes


def _save_whole(path: str, array: np.ndarray) -> None:
    temporary = f"{path}.{os.getpid()}.tmp.npy"
    np.save(temporary, array)
    os.replace(temporary, path)


def content_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare(video_path: str, directory: str, *, size: int, crop_scale: float, face_index: int,
            detector: faces.LandmarkDetector | None = None,
            check: Callable[[video.VideoInfo], None] | None = None) -> PreparedVideo:
    """Decodes (one pass), tracks and crops the video into directory; check(info) runs between
    the decoding and the face track (what depends on the video's length fails before the long work)."""
    info, frames = video.decode_video(video_path, directory)
    if check is not None:
        check(info)
    track = faces.track_face(frames, detector, face_index=face_index, scale=crop_scale)
    if track.box is None or not track.found.any():
        raise NoFaceError(f"{video_path}: no face found in any of its {info.num_frames} frames")
    crops = np.lib.format.open_memmap(os.path.join(directory, "crops.npy"), mode="w+", dtype=np.uint8,
                                      shape=(info.num_frames, size, size, 3))
    for index, frame in enumerate(frames):
        crops[index] = faces.crop_face(frame, track.box, size)
    crops.flush()
    landmarks = track.landmarks_at(size)
    np.save(os.path.join(directory, "found.npy"), track.found)
    np.save(os.path.join(directory, "landmarks.npy"), landmarks)
    return PreparedVideo(info, track.box, frames, crops, track.found, landmarks, directory, False)


def _manifest(prepared: PreparedVideo) -> dict:
    sizes = {name: os.path.getsize(os.path.join(prepared.directory, f"{name}.npy")) for name in ARRAYS}
    return {"info": dataclasses.asdict(prepared.info), "box": dataclasses.asdict(prepared.box), "sizes": sizes}


def _load(directory: str) -> PreparedVideo | None:
    """The entry in directory if its manifest and every array it records are whole, else None."""
    try:
        with open(os.path.join(directory, MANIFEST), encoding="utf-8") as handle:
            manifest = json.load(handle)
        for name, size in manifest["sizes"].items():
            if os.path.getsize(os.path.join(directory, f"{name}.npy")) != size:
                return None
        arrays = {name: np.load(os.path.join(directory, f"{name}.npy"), mmap_mode="r") for name in ARRAYS}
        box = manifest["box"]
        prepared = PreparedVideo(video.VideoInfo(**manifest["info"]), faces.CropBox(**{**box, "face": tuple(box["face"])}),
                                 arrays["frames"], arrays["crops"], np.asarray(arrays["found"]),
                                 np.asarray(arrays["landmarks"]), directory, True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(prepared.frames) != prepared.info.num_frames or len(prepared.crops) != prepared.info.num_frames:
        return None
    return prepared


class PreparedVideos:
    """The cache: `lookup` gives a video's whole entry or None; `build` makes one."""

    def __init__(self, directory: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        self.directory = directory or default_cache_dir()
        self.max_bytes = max_bytes

    def entry(self, video_path: str, *, size: int, crop_scale: float, face_index: int, renderer: str) -> str:
        """The folder of this video's entry for this framing and renderer checkpoint (its name)."""
        settings = json.dumps({"size": size, "crop_scale": round(float(crop_scale), 6), "face_index": face_index,
                               "renderer": renderer}, sort_keys=True)
        key = hashlib.sha256(f"{content_hash(video_path)}|{settings}".encode()).hexdigest()[:32]
        return os.path.join(self.directory, key)

    def lookup(self, entry: str) -> PreparedVideo | None:
        prepared = _load(entry) if os.path.isdir(entry) else None
        if prepared is not None:
            os.utime(entry)  # most recently used
        return prepared

    def build(self, video_path: str, entry: str, *, size: int, crop_scale: float, face_index: int,
              detector: faces.LandmarkDetector | None = None,
              check: Callable[[video.VideoInfo], None] | None = None) -> PreparedVideo:
        """Prepares the video into a temporary folder, renamed to entry (replacing a damaged one)
        when complete; then evicts the least recently used entries beyond max_bytes."""
        os.makedirs(self.directory, exist_ok=True)
        building = tempfile.mkdtemp(prefix=".building_", dir=self.directory)
        try:
            prepared = prepare(video_path, building, size=size, crop_scale=crop_scale, face_index=face_index,
                               detector=detector, check=check)
            with open(os.path.join(building, MANIFEST), "w", encoding="utf-8") as handle:
                json.dump(_manifest(prepared), handle)
            shutil.rmtree(entry, ignore_errors=True)
            os.replace(building, entry)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        self._evict(keep=entry)
        return dataclasses.replace(_load(entry), cached=False)

    def _evict(self, keep: str) -> None:
        entries = []
        for name in os.listdir(self.directory):
            path = os.path.join(self.directory, name)
            if os.path.isdir(path) and not name.startswith(".building_"):
                size = sum(os.path.getsize(os.path.join(path, file)) for file in os.listdir(path))
                entries.append((os.path.getmtime(path), size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path != keep:
                shutil.rmtree(path, ignore_errors=True)
                total -= size
