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
from diffdub_jax.evaluation import score
from diffdub_jax.inference.dub import dub
from diffdub_jax.inference.models import DubbingModels

MIN_VIDEO_SIZE = 256  # dlib's HOG detector needs faces of about 80 px


def clip_media(records: Sequence[Mapping]) -> tuple[list[np.ndarray], np.ndarray, float]:
    """(frames, int16 waveform at 16 kHz aligned to them, fps) of a clip from its records (one, or
    its segments in order; a segment's audio context is dropped)."""
    frames, pieces = [], []
    for record in sorted(records, key=lambda r: int(r.get("segment", 0))):
        count = len(record["frames"]["image"])
        frames += [datasets.decode_frame(png) for png in record["frames"]["image"]]
        start = int(record.get("waveform_offset", 0))
        samples = int(round(count * int(record["sample_rate"]) / float(record["fps"])))
        pieces.append(np.asarray(record["waveform"], np.int16)[start:start + samples])
    rate = int(records[0]["sample_rate"])
    waveform = np.concatenate(pieces)
    if rate != audio.SAMPLE_RATE:
        waveform = np.round(audio.resample(waveform, rate) * 32767).astype(np.int16)
    return frames, waveform, float(records[0]["fps"])


def write_clip(frames: Sequence[np.ndarray], waveform: np.ndarray, fps: float, path: str) -> None:
    """An mp4 of the frames (upscaled to MIN_VIDEO_SIZE when smaller) with the 16 kHz waveform."""
    scale = max(1, math.ceil(MIN_VIDEO_SIZE / min(frames[0].shape[:2])))
    if scale > 1:
        frames = [np.asarray(Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.BICUBIC))
                  for f in frames]
    wav = path + ".tmp.wav"
    soundfile.write(wav, waveform, audio.SAMPLE_RATE)
    try:
        video.write_video(path, frames, fps, audio_path=wav)
    finally:
        os.remove(wav)


def cross_audio_pairs(names: Sequence[str], seed: int) -> dict[str, str]:
    """source clip -> the clip whose audio re-voices it: a seeded shuffle with no clip left on its own."""
    if len(names) < 2:
        raise ValueError("the cross-audio setting needs at least two held-out clips")
    order = list(np.random.default_rng(seed).permutation(len(names)))
    return {names[order[i]]: names[order[(i + 1) % len(order)]] for i in range(len(order))}


def _clips(name: str, split: str, data_dir: str, max_clips: int | None) -> dict[str, list]:
    source = datasets.clip_source(name, split, data_dir)
    clips: dict[str, list] = {}
    for index in range(len(source)):
        record = source[index]
        clip_id = record["clip_id"].decode() if isinstance(record["clip_id"], bytes) else str(record["clip_id"])
        clips.setdefault(clip_id, []).append(record)
    names = sorted(clips)[:max_clips] if max_clips else sorted(clips)
    return {clip: clips[clip] for clip in names}


def evaluate_dubbing(renderer_workdir: str, motion_workdir: str, output_dir: str, *, dataset: str, data_dir: str,
                     split: str = "test", seed: int = 0, max_clips: int | None = None,
                     max_frames: int | None = None, hubert_dir: str | None = None,
                     scorer: score.Scorer | None = None) -> dict:
    """Dubs every clip of `split` (or its first max_clips, each cut to max_frames for a quick
    look; the paper's table takes whole clips) in both settings into output_dir, scores them and
    writes output_dir/metrics.json ({'reconstruction': ..., 'cross_audio': ...}, each
    score_videos' result)."""
    models = DubbingModels.load(renderer_workdir, motion_workdir, hubert_dir=hubert_dir)
    scorer = scorer or score.Scorer()
    if scorer.detector is None:
        scorer.detector = faces.DlibDetector()  # one detector for every dub and score
    clips = _clips(dataset, split, data_dir, max_clips)
    folders = {kind: os.path.join(output_dir, kind) for kind in ("sources", "reconstruction", "cross_audio",
                                                                 "cross_audio_references", "scores/reconstruction",
                                                                 "scores/cross_audio")}
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
    media = {}
    for clip, records in tqdm(clips.items(), desc="sources"):
        frames, waveform, fps = clip_media(records)
        if max_frames:
            frames, waveform = frames[:max_frames], waveform[:int(round(max_frames * audio.SAMPLE_RATE / fps))]
        media[clip] = frames, waveform, fps
        path = os.path.join(folders["sources"], f"{clip}.mp4")
        if not os.path.isfile(path):
            write_clip(*media[clip], path)
    partners = cross_audio_pairs(list(clips), seed)
    for clip in tqdm(clips, desc="dubs"):
        source = os.path.join(folders["sources"], f"{clip}.mp4")
        generated = os.path.join(folders["reconstruction"], f"{clip}.mp4")
        if not os.path.isfile(generated):
            dub(source, generated, models, seed=seed, detector=scorer.detector)
        frames, _, fps = media[clip]
        voice = media[partners[clip]][1]
        length = min(len(frames), int(len(voice) * fps / audio.SAMPLE_RATE))
        reference = os.path.join(folders["cross_audio_references"], f"{clip}.mp4")
        generated = os.path.join(folders["cross_audio"], f"{clip}.mp4")
        if not os.path.isfile(reference):
            write_clip(frames[:length], media[clip][1][:int(length * audio.SAMPLE_RATE / fps)], fps, reference)
        if not os.path.isfile(generated):
            wav = os.path.join(folders["cross_audio"], f"{clip}.wav")
            soundfile.write(wav, voice[:int(length * audio.SAMPLE_RATE / fps)], audio.SAMPLE_RATE)
            dub(reference, generated, models, audio_path=wav, seed=seed, detector=scorer.detector)
    result = {"dataset": dataset, "split": split, "clips": len(clips), "cross_audio_pairs": partners}
    for setting, references in (("reconstruction", "sources"), ("cross_audio", "cross_audio_references")):
        pairs = score.pair_videos(folders[setting], folders[references])
        result[setting] = score.score_videos(pairs, scorer, cache_dir=os.path.join(output_dir, "scores", setting))
    write_json(os.path.join(output_dir, "metrics.json"), result)
    return result
