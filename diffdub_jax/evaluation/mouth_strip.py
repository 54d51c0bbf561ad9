"""A picture that shows what mouth scores summarise: source and dub mouths side by side, magnified,
at the widest and narrowest openings, above the opening curves over time.

Noise, blur and a mouth that opens too little are plain at 4x and in the curves, where PSNR or a
lip-sync r can read well. Columns run from the narrowest to the widest true opening (the
dataset's truth where it has one, else the source's measured opening); rows are source, then dub.
The curves are the lip openings dlib measures in both videos (`metrics.mouth`) on one scale, and
the truth fitted to the source's (least squares), so a damped dub sits visibly inside the source.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from diffdub_jax.data import faces, video
from diffdub_jax.data.files import write_bytes
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.metrics import mouth

CURVES_HEIGHT = 140
COLOURS = {"source": (235, 235, 235), "dub": (255, 150, 40), "truth": (70, 220, 70)}


def _square_box(landmarks: np.ndarray, side: int, height: int, width: int) -> tuple[int, int]:
    """(top, left) of a side x side box centred on the lips, kept inside the frame."""
    centre = np.asarray(landmarks, np.float64)[mouth.MOUTH].mean(0)
    return (int(np.clip(round(centre[1] - side / 2), 0, height - side)),
            int(np.clip(round(centre[0] - side / 2), 0, width - side)))


def _fitted(truth: np.ndarray, target: np.ndarray) -> np.ndarray:
    """truth scaled and shifted to target by least squares over the frames where target is known."""
    known = ~np.isnan(target)
    if known.sum() < 2 or np.std(truth[known]) == 0:
        return np.full_like(truth, np.nanmean(target))
    slope, intercept = np.polyfit(truth[known], target[known], 1)
    return slope * truth + intercept


def mouth_strip(source: np.ndarray, dub: np.ndarray, source_landmarks: np.ndarray, dub_landmarks: np.ndarray,
                truth: np.ndarray | None = None, columns: int = 8, zoom: int = 4) -> np.ndarray:
    """uint8 picture of (T, H, W, 3) source and dub frames, with their (T, 68, 2) landmarks (NaN
    where none was found) and the true opening per frame if known."""
    source_open, dub_open = mouth.lip_openings(source_landmarks), mouth.lip_openings(dub_landmarks)
    found = np.flatnonzero(~np.isnan(source_open))
    if not len(found):
        raise InvalidInputError("mouth_strip: no face found in the source")
    order = found[np.argsort((truth if truth is not None else source_open)[found], kind="stable")]
    picks = order[np.linspace(0, len(order) - 1, min(columns, len(order))).round().astype(int)]
    lips = np.asarray(source_landmarks, np.float64)[picks][:, mouth.MOUTH]
    side = int(np.ceil(1.6 * (lips[..., 0].max(-1) - lips[..., 0].min(-1)).max()))
    side = min(max(side, 8), *source.shape[1:3])
    cells = []
    for frames in (source, dub):
        row = []
        for index in picks:
            top, left = _square_box(source_landmarks[index], side, *source.shape[1:3])
            patch = Image.fromarray(np.asarray(frames[index][top:top + side, left:left + side]))
            row.append(np.asarray(patch.resize((side * zoom, side * zoom), Image.Resampling.NEAREST)))
        cells.append(np.concatenate(row, axis=1))
    mouths = np.concatenate(cells, axis=0)

    curves = Image.new("RGB", (mouths.shape[1], CURVES_HEIGHT), (20, 20, 20))
    draw = ImageDraw.Draw(curves)
    lines = {"source": source_open, "dub": dub_open}
    if truth is not None:
        lines["truth"] = _fitted(np.asarray(truth, np.float64), source_open)
    low = min(np.nanmin(values) for values in lines.values())
    high = max(np.nanmax(values) for values in lines.values())
    xs = np.linspace(4, curves.width - 5, len(source_open))
    to_y = lambda values: (CURVES_HEIGHT - 6) - (values - low) / max(high - low, 1e-9) * (CURVES_HEIGHT - 22)  # noqa: E731
    for x in xs[picks]:
        draw.line([(x, 16), (x, CURVES_HEIGHT - 4)], fill=(70, 70, 90))
    for name, values in lines.items():
        points = [(x, y) for x, y in zip(xs, to_y(values)) if not np.isnan(y)]
        draw.line(points, fill=COLOURS[name], width=2)
    for i, name in enumerate(lines):
        draw.text((6 + 70 * i, 2), name, fill=COLOURS[name])
    return np.concatenate([mouths, np.asarray(curves)], axis=0)


def write_mouth_strip(dub_path: str, source_path: str, output: str, truth: np.ndarray | None = None,
                      detector: faces.LandmarkDetector | None = None) -> None:
    """mouth_strip of a dub against its source video (same length), written as PNG to output."""
    detector = detector or faces.DlibDetector()
    source = np.stack(list(video.read_frames(source_path)))
    dub = np.stack(list(video.read_frames(dub_path)))
    track = faces.track_face(source, detector)
    if track.box is None:
        raise InvalidInputError(f"{source_path}: no face found, so there is no mouth to show")
    count = min(len(source), len(dub))
    source_points = track.detected[:count]
    dub_points = faces.landmarks_per_frame(dub, track.box, detector, np.arange(count))
    crops = [np.stack([faces.cut(frame, track.box) for frame in frames[:count]]) for frames in (source, dub)]
    picture = mouth_strip(*crops, source_points, dub_points, None if truth is None else np.asarray(truth)[:count])
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="png")
    write_bytes(output, buffer.getvalue())
