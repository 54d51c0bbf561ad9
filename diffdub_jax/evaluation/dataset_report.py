"""A look at a prepared dataset: a contact sheet of frames with their masks, and a summary.

The sheet shows, per clip, frames with the edit mask tinted red and the eye-guided region's
outline, the encoder crop, and the clip's mouth openness over time -- true (green) against the
value measured from pixels (white) -- so lip sync in the data can be seen at a glance.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

from diffdub_jax.data import datasets, masks
from diffdub_jax.data.files import write_json
from diffdub_jax.data.pixels import rescale_points
from diffdub_jax.metrics import lipsync

CELL = 128  # pixels per sheet cell


def _decode_clip(clip) -> tuple[np.ndarray, np.ndarray]:
    frames = np.stack([datasets.decode_frame(png) for png in clip["frames"]["image"]])
    return frames, np.asarray(clip["frames"]["landmarks"], np.float32)


def _annotated(frame: np.ndarray, landmarks: np.ndarray) -> Image.Image:
    size = frame.shape[0]
    edit = masks.edit_mask(landmarks, size)
    tinted = frame.astype(np.float32)
    tinted[edit] = 0.55 * tinted[edit] + 0.45 * np.array([255, 0, 0])
    eye_region = masks.eye_guided_mask(landmarks, size)
    border = eye_region & masks.dilate(~eye_region, 1)
    tinted[border] = (255, 255, 0)
    cell = Image.fromarray(tinted.astype(np.uint8)).resize((CELL, CELL), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(cell)
    for x, y in rescale_points(landmarks, size, CELL) + 0.5:
        draw.point((x, y), fill=(0, 255, 255))
    return cell


def _curve_cell(true_open: np.ndarray, measured: np.ndarray, width: int) -> Image.Image:
    cell = Image.new("RGB", (width, CELL // 2), (20, 20, 20))
    draw = ImageDraw.Draw(cell)
    xs = np.linspace(2, width - 3, len(true_open))
    for values, colour in ((measured / max(measured.max(), 1e-9), (235, 235, 235)),
                           (true_open / max(true_open.max(), 1e-9), (60, 220, 60))):
        ys = (CELL // 2 - 4) - values * (CELL // 2 - 8)
        draw.line(list(zip(xs, ys)), fill=colour, width=1)
    return cell


def write_report(name: str, split: str, data_dir: str, out_dir: str, num_clips: int = 6,
                 frames_per_clip: int = 6) -> dict:
    """Writes out_dir/contact_sheet.png and out_dir/dataset_summary.json; returns the summary."""
    os.makedirs(out_dir, exist_ok=True)
    source = datasets.clip_source(name, split, data_dir)
    rows, per_clip_r, env_r, all_open, all_measured = [], [], [], [], []
    total_frames, identities = 0, set()
    for index in range(len(source)):
        clip = source[index]
        frames, landmarks = _decode_clip(clip)
        true_open = np.asarray(clip["frames"]["mouth"])[:, 0]
        measured = lipsync.mouth_openings(frames, landmarks)
        envelope = lipsync.audio_envelope(np.asarray(clip["waveform"]) / 32768.0,
                                          int(clip["sample_rate"]), float(clip["fps"]), len(frames))
        per_clip_r.append(lipsync.pearson(measured, true_open))
        env_r.append(lipsync.pearson(measured, envelope))
        all_open.append(true_open)
        all_measured.append(measured)
        total_frames += len(frames)
        identities.add(int(clip["identity"]))
        if index < num_clips:
            picks = np.linspace(0, len(frames) - 1, frames_per_clip).astype(int)
            picks[1] = int(np.argmax(true_open))  # always show a wide-open mouth
            cells = [_annotated(frames[i], landmarks[i]) for i in picks]
            crop = masks.encoder_crop(frames[picks[1]], landmarks[picks[1]], frames.shape[1])
            cells.append(Image.fromarray(crop).resize((CELL, CELL), Image.Resampling.NEAREST))
            row = Image.new("RGB", (CELL * len(cells), CELL + CELL // 2))
            for column, cell in enumerate(cells):
                row.paste(cell, (CELL * column, 0))
            row.paste(_curve_cell(true_open, measured, row.width), (0, CELL))
            rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)))
    for i, row in enumerate(rows):
        sheet.paste(row, (0, i * row.height))
    sheet_path = os.path.join(out_dir, "contact_sheet.png")
    sheet.save(sheet_path + ".tmp.png")
    os.replace(sheet_path + ".tmp.png", sheet_path)

    summary = {
        "dataset": name,
        "split": split,
        "clips": len(source),
        "identities": len(identities),
        "frames": total_frames,
        "image_size": int(frames.shape[1]),
        "pixel_mouth_opening_vs_true_openness_r": {
            "pooled": lipsync.pearson(np.concatenate(all_measured), np.concatenate(all_open)),
            "per_clip_min": float(np.min(per_clip_r)),
            "per_clip_mean": float(np.mean(per_clip_r)),
        },
        "pixel_mouth_opening_vs_audio_envelope_r_per_clip_mean": float(np.mean(env_r)),
        "contact_sheet": sheet_path,
    }
    write_json(os.path.join(out_dir, "dataset_summary.json"), summary)
    return summary
