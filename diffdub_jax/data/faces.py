"""Face tracks for inference (DESIGN §2.4): one fixed square crop per clip and smoothed 68 iBUG
landmarks per frame inside it.

Detection and landmarks sit behind `LandmarkDetector`, so another model can be plugged in. The
default, `DlibDetector`, is dlib's HOG face detector with its 68-point shape predictor: both install
offline from PyPI (`dlib-bin`, and `face-recognition-models` which ships the model files).

The authors' recipe fixes the crop per clip: detect every 25th frame, take the median box, make a
square of side max(w, h) * 1.6 around its centre. A square that crosses the border is moved inside
the frame (and shrunk to the frame's short side if larger), so the crop stays square, undistorted
and made of real pixels. Landmarks are then found per frame inside that crop, at a fixed working
resolution, and smoothed in time. Frames where the face is not found are flagged; the caller
passes them through unchanged. Frames are searched on all CPU cores when the detector allows it
(`thread_safe`): dlib releases the GIL, so tracking runs ~1.7x faster on 2 cores.

Points are (x, y) pixels with pixel centres at integers, as in masks.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import queue
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np
from PIL import Image
from scipy.signal import savgol_filter
from tqdm import tqdm

from diffdub_jax.data.pixels import rescale_points
from diffdub_jax.data.threaded import ordered_map
from diffdub_jax.errors import MissingFileError

NUM_LANDMARKS = 68
DETECTION_STRIDE = 25  # frames between the detections that place the clip's crop
CROP_SCALE = 1.6  # crop side / max(face box width, height)
LANDMARK_SIZE = 256  # crops are resized to this before per-frame detection (the model's size)
# A face in the crop is "ours" when at least this much of its box lies inside the clip's face region
# (the median face box, or a published window around the head and shoulders, 2-3x the face).
MIN_INSIDE = 0.5
SMOOTHING_WINDOW = 7  # frames (0.28 s at 25 fps): removes jitter, keeps a jaw drop of ~5 frames
SMOOTHING_ORDER = 2


@dataclasses.dataclass(frozen=True)
class FaceLandmarks:
    """One detected face: box (x0, y0, x1, y1), (68, 2) iBUG landmarks, detector score."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


class LandmarkDetector(Protocol):
    """Anything that finds faces and their 68 iBUG landmarks in an (H, W, 3) uint8 RGB frame.
    A detector whose `detect` may run on several threads at once says so with a true
    `thread_safe` attribute; others are called from one thread."""

    def detect(self, frame: np.ndarray) -> list[FaceLandmarks]:
        ...


DLIB_PREDICTOR = "shape_predictor_68_face_landmarks.dat"
DLIB_CNN_DETECTOR = "mmod_human_face_detector.dat"


def packaged_dlib_model_dir() -> str | None:
    """Where `face-recognition-models` keeps its .dat files, without importing it (its __init__
    needs pkg_resources, which recent setuptools no longer ships)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "models")


def _require_model(model_dir: str | None, name: str) -> str:
    path = os.path.join(model_dir, name) if model_dir else None
    if path and os.path.isfile(path):
        return path
    where = f"{path} does not exist" if path else "the package face-recognition-models is not installed"
    raise MissingFileError(
        f"dlib model file {name} not found ({where}). Install it with "
        f"`pip install face-recognition-models` (the wheel ships {name}), or download "
        f"http://dlib.net/files/{name}.bz2, decompress it with `bunzip2`, and pass the folder "
        f"that holds {name} as model_dir.")


class DlibDetector:
    """dlib face detector ("hog": fast, frontal; "cnn": MMOD, slower, more poses) + dlib's
    68-point shape predictor. upsample > 0 finds faces smaller than ~80 px at a large cost.
    threshold: on the astronaut photo HOG's false faces (her hand, the flag) score 0.01-0.18 and
    would win "largest face" at dlib's default of 0; sharp real faces score ~1-1.5.
    Thread-safe: the shape predictor is shared (dlib documents it so); a face detector (dlib's
    are not) serves one call at a time, and there are as many as calls have run at once."""

    thread_safe = True

    def __init__(self, model_dir: str | None = None, kind: str = "hog", upsample: int = 0,
                 threshold: float = 0.3):
        try:
            import dlib  # pylint: disable=import-outside-toplevel
        except ImportError as error:
            raise MissingFileError("DlibDetector needs dlib: `pip install dlib-bin` (prebuilt wheels)"
                                   ) from error
        if kind not in ("hog", "cnn"):
            raise ValueError(f"kind must be 'hog' or 'cnn', got {kind!r}")
        model_dir = model_dir if model_dir is not None else packaged_dlib_model_dir()
        self._predictor = dlib.shape_predictor(_require_model(model_dir, DLIB_PREDICTOR))
        if kind == "cnn":
            cnn_path = _require_model(model_dir, DLIB_CNN_DETECTOR)
            self._new_detector = lambda: dlib.cnn_face_detection_model_v1(cnn_path)
        else:
            self._new_detector = dlib.get_frontal_face_detector
        # Face detectors not in use; a thread takes one (or makes one: ~0.25 s) and puts it back.
        self._idle_detectors: queue.SimpleQueue = queue.SimpleQueue()
        self._idle_detectors.put(self._new_detector())  # a broken model file fails here
        self.kind, self.upsample, self.threshold = kind, upsample, threshold

    def _rectangles(self, image: np.ndarray) -> list:
        try:
            detector = self._idle_detectors.get_nowait()
        except queue.Empty:
            detector = self._new_detector()
        try:
            if self.kind == "cnn":
                return [(m.rect, m.confidence) for m in detector(image, self.upsample)
                        if m.confidence >= self.threshold]
            rects, scores, _ = detector.run(image, self.upsample, self.threshold)
            return list(zip(rects, scores))
        finally:
            self._idle_detectors.put(detector)

    def detect(self, frame: np.ndarray) -> list[FaceLandmarks]:
        image = np.ascontiguousarray(frame, dtype=np.uint8)
        faces = []
        for rect, score in self._rectangles(image):
            shape = self._predictor(image, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float32)
            faces.append(FaceLandmarks(box, points, float(score)))
        return faces


@dataclasses.dataclass(frozen=True)
class CropBox:
    """The clip's fixed square crop, frame[y0:y0+side, x0:x0+side], and the median face box."""

    x0: int
    y0: int
    side: int
    face: tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class FaceTrack:
    """box: the clip's crop (None when no face was found at all). landmarks: (T, 68, 2) float32 in
    crop pixels (0..side), smoothed, NaN where found is False; detected: the same before smoothing
    (what crop_landmarks found in each frame, for metrics that compare frames one by one)."""

    box: CropBox | None
    landmarks: np.ndarray
    found: np.ndarray
    detected: np.ndarray

    def landmarks_at(self, size: int) -> np.ndarray:
        """Landmarks in the coordinates of the crop resized to size x size (for masks.py)."""
        if self.box is None:
            return self.landmarks
        return rescale_points(self.landmarks, self.box.side, size)

    def landmarks_in_frame(self) -> np.ndarray:
        """Landmarks in full-frame pixels."""
        if self.box is None:
            return self.landmarks
        return self.landmarks + np.array([self.box.x0, self.box.y0], np.float32)


def select_face(faces: list[FaceLandmarks], face_index: int) -> FaceLandmarks | None:
    """The face_index-th face by box area, largest first; None when there are not that many."""
    ordered = sorted(faces, key=lambda face: face.area, reverse=True)
    return ordered[face_index] if face_index < len(ordered) else None


def fixed_crop_box(sampled_frames: Iterable[np.ndarray], detector: LandmarkDetector,
                   face_index: int = 0, scale: float = CROP_SCALE) -> CropBox | None:
    """The clip's square crop from a few frames (the recipe samples every 25th): median box of the
    chosen face, side = max(w, h) * scale, moved inside the frame. None if no frame has the face."""
    def detect(frame: np.ndarray) -> tuple[tuple[int, ...], FaceLandmarks | None]:
        return frame.shape, select_face(detector.detect(frame), face_index)

    boxes, frame_shape = [], None
    for frame_shape, face in _map_frames(detect, sampled_frames, detector):
        if face is not None:
            boxes.append(face.box)
    if not boxes:
        return None
    return square_crop(np.median(np.stack(boxes), axis=0), scale, frame_shape[1], frame_shape[0])


def square_crop(face: Sequence[float], scale: float, width: int, height: int) -> CropBox:
    """The square of side max(w, h) * scale centred on face box (x0, y0, x1, y1), moved inside a
    width x height frame (and shrunk to its short side if larger)."""
    x0, y0, x1, y1 = (float(value) for value in face)
    side = int(min(round(max(x1 - x0, y1 - y0) * scale), height, width))
    left = int(np.clip(round((x0 + x1) / 2 - side / 2), 0, width - side))
    top = int(np.clip(round((y0 + y1) / 2 - side / 2), 0, height - side))
    return CropBox(left, top, side, (x0, y0, x1, y1))


def cut(frame: np.ndarray, box: CropBox) -> np.ndarray:
    """The crop at its native size (a view into frame)."""
    return frame[box.y0:box.y0 + box.side, box.x0:box.x0 + box.side]


def crop_face(frame: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the clip's crop resized (antialiased bicubic) to the model size."""
    region = cut(frame, box)
    if box.side == size:
        return np.array(region)
    return np.asarray(Image.fromarray(region).resize((size, size), Image.BICUBIC))


def _overlap(face: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """(share of the face box inside region, IoU of the two) for (x0, y0, x1, y1) boxes."""
    inter_w = max(0.0, min(face[2], region[2]) - max(face[0], region[0]))
    inter_h = max(0.0, min(face[3], region[3]) - max(face[1], region[1]))
    inter = inter_w * inter_h
    face_area = (face[2] - face[0]) * (face[3] - face[1])
    union = face_area + (region[2] - region[0]) * (region[3] - region[1]) - inter
    return (float(inter / face_area) if face_area > 0 else 0.0), (float(inter / union) if union > 0 else 0.0)


def crop_landmarks(frame: np.ndarray, box: CropBox, detector: LandmarkDetector,
                   working_size: int = LANDMARK_SIZE) -> np.ndarray | None:
    """(68, 2) landmarks of the tracked face in crop pixels, or None when it is not in this frame.

    The crop is resized to working_size first, so detection costs the same for any video size (and
    searched again at twice that size when no face is found: in a published window 3x the face,
    the face is ~85 px there, at the edge of what dlib's detector finds). Of
    the faces found at least MIN_INSIDE inside the clip's face region (box.face: the median face
    box, or a published window that frames the head loosely), the one overlapping it most (IoU) is
    ours: the face a region frames, whatever the region's size around it. Another person partly
    inside the crop is ignored."""
    for size in (working_size, 2 * working_size):  # a loose window's face may be too small at the first
        faces = detector.detect(crop_face(frame, box, size))
        region = rescale_points(np.reshape(box.face, (2, 2)) - [box.x0, box.y0], box.side, size).reshape(4)
        overlaps = [_overlap(face.box, region) for face in faces]
        inside = [i for i, (share, _) in enumerate(overlaps) if share >= MIN_INSIDE]
        if inside:
            best = max(inside, key=lambda i: overlaps[i][1])
            return rescale_points(faces[best].landmarks, size, box.side)
    return None


def landmarks_per_frame(frames: Sequence[np.ndarray], box: CropBox, detector: LandmarkDetector,
                        indices: Sequence[int], working_size: int = LANDMARK_SIZE) -> np.ndarray:
    """(len(indices), 68, 2) crop_landmarks of those frames, NaN where the face is not found."""
    landmarks = np.full((len(indices), NUM_LANDMARKS, 2), np.nan, np.float32)
    found = _map_frames(lambda index: crop_landmarks(frames[index], box, detector, working_size), indices, detector)
    for row, points in enumerate(tqdm(found, total=len(indices), desc="landmarks", leave=False)):
        if points is not None:
            landmarks[row] = points
    return landmarks


def detection_threads() -> int:
    """Threads that search frames for faces: the CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _map_frames(function: Callable, items: Iterable, detector: LandmarkDetector) -> Iterator:
    """function(item) for each item, in order: on one thread per CPU core when the detector is
    thread_safe, with at most two items per thread taken ahead."""
    threads = detection_threads()
    if threads == 1 or not getattr(detector, "thread_safe", False):
        return map(function, items)
    return ordered_map(function, items, threads, ahead=2 * threads)


def nearest_found(found: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
    """For each of `frames` (default: every frame), the nearest frame where `found` is True (the
    earlier on a tie): whose landmarks stand in for a frame without a face."""
    hits = np.flatnonzero(found)
    frames = np.arange(len(found)) if frames is None else np.asarray(frames)
    return hits[np.abs(frames[:, None] - hits[None]).argmin(axis=1)]


def smooth_landmarks(landmarks: np.ndarray, found: np.ndarray,
                     window: int = SMOOTHING_WINDOW, order: int = SMOOTHING_ORDER) -> np.ndarray:
    """Savitzky-Golay smoothing in time, run by run: each stretch of consecutive found frames is
    filtered on its own, so missing frames (NaN) never leak into their neighbours, and a fit of
    order 2 follows a jaw opening where a moving average would flatten it. Runs shorter than the
    window use the largest odd window that fits; runs of 1-2 frames are left as they are."""
    out = np.array(landmarks, np.float32)
    found = np.asarray(found, bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], found.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        length = min(window, stop - start)
        length -= 1 - length % 2  # odd
        if length > order:
            out[start:stop] = savgol_filter(out[start:stop], length, order, axis=0, mode="interp")
    return out


def track_face(frames: Sequence[np.ndarray], detector: LandmarkDetector | None = None, *,
               face_index: int = 0, stride: int = DETECTION_STRIDE, scale: float = CROP_SCALE,
               working_size: int = LANDMARK_SIZE, smoothing_window: int = SMOOTHING_WINDOW
               ) -> FaceTrack:
    """The clip's face track. frames: (H, W, 3) uint8 RGB, any indexable sequence (a lazy video
    reader works if it can be read from several threads, as a memmap can: frames are read twice,
    every stride-th for the box, then all of them).
    face_index picks the face by size, 0 = largest. detector defaults to DlibDetector()."""
    detector = detector if detector is not None else DlibDetector()
    count = len(frames)
    box = fixed_crop_box((frames[i] for i in range(0, count, stride)), detector, face_index, scale)
    if box is None:
        landmarks = np.full((count, NUM_LANDMARKS, 2), np.nan, np.float32)
        return FaceTrack(None, landmarks, np.zeros(count, bool), landmarks)
    landmarks = landmarks_per_frame(frames, box, detector, range(count), working_size)
    found = ~np.isnan(landmarks).any(axis=(1, 2))
    return FaceTrack(box, smooth_landmarks(landmarks, found, smoothing_window), found, landmarks)
