"""Both stages on a dataset's held-out clips, scored as papers score dubbing (`evaluate --split=test`).

Every clip of the split is written as a video with its own audio (segments joined; frames smaller
than 256 px upscaled so the face detector sees ~80 px faces), then dubbed through `infer`'s
pipeline in two settings:
- reconstruction: with its own audio, scored against itself (PSNR, SSIM, LPIPS, LMD, LSE);
- cross-audio: with another held-out clip's audio (pairs fixed by seed, never a clip's own),
  both cut to the shorter of the two, scored against the source cut the same way: lip sync
  (LSE-D / LSE-C against the new audio) is what this setting measures; the image columns say
  how much of the face outside the mouth survives.
Finished dubs are kept, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

import numpy as np
import soundfile
from PIL import Image
from tqdm import tqdm

from diffdub_jax.data import audio, datasets, faces, video
from diffdub_jax.data.files import write_json
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.evaluation import score
from diffdub_jax.inference.dub import dub
from diffdub_jax.inference.models import DubbingModels

MIN_VIDEO_SIZE = 256  # dlib's HOG detector needs faces of about 80 px
REFERENCES = {"reconstruction": "sources", "cross_audio": "cross_audio_references"}  # setting -> scored against
SETTINGS = tuple(REFERENCES)


def _segments(records: Sequence[Mapping]) -> list[Mapping]:
    return sorted(records, key=lambda record: int(record.get("segment", 0)))


def clip_waveform(records: Sequence[Mapping]) -> tuple[np.ndarray, float, int]:
    """(int16 waveform at 16 kHz aligned to the frames, fps, number of frames) of a clip from its
    records (one, or its segments; a segment's audio context is dropped). Decodes no frame."""
    pieces = []
    for record in _segments(records):
        start = int(record.get("waveform_offset", 0))
        samples = int(round(len(record["frames"]["image"]) * int(record["sample_rate"]) / float(record["fps"])))
        pieces.append(np.asarray(record["waveform"], np.int16)[start:start + samples])
    rate, waveform = int(records[0]["sample_rate"]), np.concatenate(pieces)
    if rate != audio.SAMPLE_RATE:
        waveform = np.round(audio.resample(waveform, rate) * 32767).astype(np.int16)
    return waveform, float(records[0]["fps"]), sum(len(record["frames"]["image"]) for record in records)


def clip_frames(records: Sequence[Mapping], count: int) -> list[np.ndarray]:
    """The clip's first `count` frames, decoded."""
    pngs = [png for record in _segments(records) for png in record["frames"]["image"]]
    return [datasets.decode_frame(png) for png in pngs[:count]]


def upscaled_for_detection(frames: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Frames smaller than MIN_VIDEO_SIZE enlarged by the smallest integer factor that reaches it
    (bicubic), and that factor: what a video of dataset frames needs for `infer` to find the face."""
    scale = max(1, math.ceil(MIN_VIDEO_SIZE / min(frames[0].shape[:2])))
    if scale == 1:
        return list(frames), 1
    return [np.asarray(Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.BICUBIC))
            for f in frames], scale


def write_clip(frames: Sequence[np.ndarray], waveform: np.ndarray, fps: float, path: str) -> None:
    """An mp4 of the frames (upscaled_for_detection) with the 16 kHz waveform."""
    frames, _ = upscaled_for_detection(frames)
    wav = path + ".tmp.wav"
    soundfile.write(wav, waveform, audio.SAMPLE_RATE)
    try:
        video.write_video(path, frames, fps, audio_path=wav)
    finally:
        os.remove(wav)


def samples(frames: int, fps: float) -> int:
    """16 kHz samples spanned by that many frames."""
    return int(round(frames * audio.SAMPLE_RATE / fps))


def cross_audio_pairs(names: Sequence[str], seed: int) -> dict[str, str]:
    """source clip -> the clip whose audio re-voices it: a seeded shuffle with no clip left on its own."""
    if len(names) < 2:
        raise InvalidInputError("the cross-audio setting needs at least two held-out clips")
    order = list(np.random.default_rng(seed).permutation(len(names)))
    return {names[order[i]]: names[order[(i + 1) % len(order)]] for i in range(len(order))}


def _clips(name: str, split: str, data_dir: str, max_clips: int | None) -> tuple[object, dict[str, list[int]]]:
    """The split's clip source and, per clip name, its record indices (first max_clips names)."""
    source = datasets.clip_source(name, split, data_dir)
    clips: dict[str, list[int]] = {}
    for index in range(len(source)):
        clip_id = source[index]["clip_id"]
        clips.setdefault(clip_id.decode() if isinstance(clip_id, bytes) else str(clip_id), []).append(index)
    names = sorted(clips)[:max_clips] if max_clips else sorted(clips)
    return source, {clip: clips[clip] for clip in names}


def evaluate_dubbing(models: DubbingModels, output_dir: str, *, dataset: str, data_dir: str,
                     split: str = "test", seed: int = 0, max_clips: int | None = None,
                     max_frames: int | None = None, scorer: score.Scorer | None = None,
                     settings: Sequence[str] = SETTINGS) -> dict:
    """Dubs every clip of `split` (or its first max_clips, each cut to max_frames for a quick
    look; the paper's table takes whole clips) in `settings` (both by default) into output_dir,
    scores them and writes output_dir/metrics.json ({'reconstruction': ..., 'cross_audio': ...},
    each score_videos' result)."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise InvalidInputError(f"unknown evaluation settings {unknown}: choose from {list(SETTINGS)}")
    scorer = scorer or score.Scorer()
    if scorer.detector is None:
        scorer.detector = faces.DlibDetector()  # one detector for every dub and score
    source, clips = _clips(dataset, split, data_dir, max_clips)
    kinds = ["sources"] + [kind for setting in settings for kind in (setting, REFERENCES[setting], f"scores/{setting}")]
    folders = {kind: os.path.join(output_dir, kind) for kind in kinds}
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
    tracks = {}  # clip -> (waveform, fps, frames): audio only, so a long test split fits in memory
    for clip, indices in clips.items():
        waveform, fps, count = clip_waveform([source[i] for i in indices])
        count = min(count, max_frames or count)
        tracks[clip] = waveform[:samples(count, fps)], fps, count
    cross_audio = "cross_audio" in settings
    partners = cross_audio_pairs(list(clips), seed) if cross_audio else {}

    def path(folder: str, clip: str) -> str:
        return os.path.join(folders[folder], f"{clip}.mp4")

    for clip in tqdm(clips, desc="dubs"):
        waveform, fps, count = tracks[clip]
        voice = tracks[partners[clip]][0] if cross_audio else waveform
        length = min(count, int(len(voice) * fps / audio.SAMPLE_RATE))  # cross-audio: the shorter of the two
        missing = [kind for kind in ("sources", "cross_audio_references")
                   if kind in folders and not os.path.isfile(path(kind, clip))]
        if missing:
            frames = clip_frames([source[i] for i in clips[clip]], count)  # decoded once, for both videos
            if "sources" in missing:
                write_clip(frames, waveform, fps, path("sources", clip))
            if "cross_audio_references" in missing:
                write_clip(frames[:length], waveform[:samples(length, fps)], fps,
                           path("cross_audio_references", clip))
        if "reconstruction" in settings and not os.path.isfile(path("reconstruction", clip)):
            dub(path("sources", clip), path("reconstruction", clip), models, seed=seed, detector=scorer.detector)
        if cross_audio and not os.path.isfile(path("cross_audio", clip)):
            wav = os.path.join(folders["cross_audio"], f"{clip}.wav")
            soundfile.write(wav, voice[:samples(length, fps)], audio.SAMPLE_RATE)
            dub(path("cross_audio_references", clip), path("cross_audio", clip), models, audio_path=wav, seed=seed,
                detector=scorer.detector)
    result = {"dataset": dataset, "split": split, "clips": len(clips), "cross_audio_pairs": partners}
    for setting in settings:
        pairs = score.pair_videos(folders[setting], folders[REFERENCES[setting]])
        result[setting] = score.score_videos(pairs, scorer, cache_dir=folders[f"scores/{setting}"])
    write_json(os.path.join(output_dir, "metrics.json"), result)
    return result
