"""The demo's dubs: held-out synthetic clips re-voiced with other identities' audio, and their scores.

The synthetic set knows the true mouth openness behind every audio track, so lip sync can be
scored from pixels: the mouth opening measured in each output frame (metrics.lipsync, in a box
placed by the source's eyes and nose, which neither speech nor dubbing moves) is correlated with the
openness that produced the new audio. The untouched source video played against the same audio
is the no-sync baseline.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import soundfile
from PIL import Image

from diffdub_jax.data import datasets, faces, video
from diffdub_jax.data.files import write_json
from diffdub_jax.data.pixels import rescale_points, side_by_side
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.evaluation.dubbing import upscaled_for_detection
from diffdub_jax.inference.dub import dub
from diffdub_jax.inference.models import DubbingModels
from diffdub_jax.metrics import lipsync

def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def clip_name(clip: Mapping) -> str:
    """A dataset clip's id as text (TFDS reads strings as bytes)."""
    return _text(clip["clip_id"])


def write_clip_audio(clip: Mapping, path: str) -> None:
    temporary = path + ".tmp.wav"
    soundfile.write(temporary, np.asarray(clip["waveform"], np.int16), int(clip["sample_rate"]))
    os.replace(temporary, path)


def score_lipsync(frames: np.ndarray, landmarks: np.ndarray, mouth_openness: np.ndarray,
                  waveform: np.ndarray, sample_rate: int, fps: float) -> dict:
    """Pearson r of the pixel mouth opening with the true openness and with the audio envelope."""
    count = min(len(frames), len(mouth_openness))
    opening = lipsync.mouth_openings(frames[:count], landmarks[:count])
    envelope = lipsync.audio_envelope(np.asarray(waveform, np.float64) / 32768.0, sample_rate, fps, count)
    return {"r_vs_true_mouth_openness": lipsync.pearson(opening, mouth_openness[:count]),
            "r_vs_audio_envelope": lipsync.pearson(opening, envelope), "frames": int(count),
            "mouth_opening_std": float(np.std(opening))}  # 0: no mouth found to move (r is then 0)


def _dub_and_score(source_clip: Mapping, audio_clip: Mapping, output_dir: str, mode: str, models: DubbingModels,
                   detector: faces.LandmarkDetector) -> tuple[dict, np.ndarray, np.ndarray, str]:
    """Dubs source_clip with audio_clip's audio into output_dir/dubbed.mp4 and scores the dub and the
    untouched source against that audio. Returns (scores, source frames as played, dubbed frames,
    the new audio's path)."""
    os.makedirs(output_dir, exist_ok=True)
    fps = float(source_clip["fps"])
    source_path, audio_path = os.path.join(output_dir, "source.mp4"), os.path.join(output_dir, "new_audio.wav")
    # 64 px synthetic frames -> 256 px video: dlib's detector needs faces of ~80 px. `infer` crops
    # them with the framing the renderer saved (the synthetic presets' data.crop_scale).
    source_frames, scale = upscaled_for_detection(
        [datasets.decode_frame(png) for png in source_clip["frames"]["image"]])
    write_clip_audio(source_clip, audio_path)
    video.write_video(source_path, source_frames, fps, audio_path=audio_path)  # the source with its own voice
    write_clip_audio(audio_clip, audio_path)

    dubbed_path = os.path.join(output_dir, "dubbed.mp4")
    result = dub(source_path, dubbed_path, models, audio_path=audio_path, mode=mode, detector=detector)
    order = result.schedule
    dubbed = np.stack(list(video.read_frames(dubbed_path)))
    undubbed = np.stack([source_frames[s] for s in order])  # the source, played against the new audio
    landmarks = rescale_points(np.asarray(source_clip["frames"]["landmarks"])[order], 1, scale)
    truth = np.asarray(audio_clip["frames"]["mouth"], np.float32)[:, 0]
    args = (truth, np.asarray(audio_clip["waveform"]), int(audio_clip["sample_rate"]), fps)
    scores = {"dubbed": score_lipsync(dubbed, landmarks, *args),
              "source_no_sync_baseline": score_lipsync(undubbed, landmarks, *args),
              "mode": mode, "reference_frame": result.reference_frame,
              "source_clip": clip_name(source_clip), "audio_clip": clip_name(audio_clip),
              "timings_s": result.timings}
    return scores, undubbed, dubbed, audio_path


def held_out_pairs(clips: Sequence[Mapping], count: int) -> list[tuple[int, int]]:
    """(source, audio) clip indices: the first clip of each of `count` identities, each re-voiced with
    the first clip of the next identity (cyclically), so no clip is dubbed with its own person's voice."""
    first_of_identity = {}
    for index in range(len(clips)):
        first_of_identity.setdefault(_text(clips[index]["identity"]), index)
    firsts = list(first_of_identity.values())
    if len(firsts) < 2:
        raise InvalidInputError("dubbing pairs need held-out clips of at least two identities")
    count = min(count, len(firsts))
    return [(firsts[i], firsts[(i + 1) % len(firsts)]) for i in range(count)]


def summarise_pairs(pairs: Sequence[dict]) -> dict:
    """Mean r of dubs and of untouched sources over the pairs, and the mean paired difference with its
    standard error: one pair's r over ~150 frames has a standard error of ~0.08 on its own."""
    key = "r_vs_true_mouth_openness"
    dubbed = np.array([p["dubbed"][key] for p in pairs])
    source = np.array([p["source_no_sync_baseline"][key] for p in pairs])
    difference = dubbed - source
    stderr = float(difference.std(ddof=1) / np.sqrt(len(pairs))) if len(pairs) > 1 else None
    return {"pairs": len(pairs), "dubbed_mean_r": float(dubbed.mean()), "source_mean_r": float(source.mean()),
            "difference_mean": float(difference.mean()), "difference_standard_error": stderr,
            "pairs_where_dub_is_better": int((difference > 0).sum())}


def dub_held_out_clips(clips: Sequence[Mapping], renderer_workdir: str, motion_workdir: str, output_dir: str,
                       *, num_pairs: int = 4, mode: str = "few_shot") -> dict:
    """Dubs `num_pairs` held-out (source, audio) pairs. The first is the showcase: dubbed.mp4,
    side_by_side.mp4 and dub_strip.png in output_dir; the others go to output_dir/pairs/. Writes
    lipsync.json: the showcase's scores, every pair's and their summary."""
    pairs = held_out_pairs(clips, num_pairs)
    models = DubbingModels.load(renderer_workdir, motion_workdir)  # one load and compilation for every pair
    detector = faces.DlibDetector()  # and one face detector
    scores, undubbed, dubbed, audio_path = _dub_and_score(clips[pairs[0][0]], clips[pairs[0][1]], output_dir, mode,
                                                          models, detector)
    fps = float(clips[pairs[0][0]]["fps"])
    video.write_video(os.path.join(output_dir, "side_by_side.mp4"),
                      (side_by_side(a, b) for a, b in zip(undubbed, dubbed)), fps, audio_path=audio_path)
    picks = np.linspace(0, len(dubbed) - 1, 8).astype(int)
    strip = np.concatenate([np.concatenate(list(undubbed[picks]), axis=1), np.concatenate(list(dubbed[picks]), axis=1)])
    Image.fromarray(strip).save(os.path.join(output_dir, "dub_strip.png"))

    every_pair = [scores]
    for source, audio in pairs[1:]:
        pair_dir = os.path.join(output_dir, "pairs", f"{clip_name(clips[source])}_with_{clip_name(clips[audio])}")
        every_pair.append(_dub_and_score(clips[source], clips[audio], pair_dir, mode, models, detector)[0])
    result = dict(scores, pairs=every_pair, over_pairs=summarise_pairs(every_pair))
    write_json(os.path.join(output_dir, "lipsync.json"), result)
    return result
