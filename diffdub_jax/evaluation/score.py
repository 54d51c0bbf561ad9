"""The paper's table for any dubbed videos: each generated video scored against its reference.

Per clip: PSNR and SSIM on full frames, on the face crop and on the edit region alone; LPIPS on
the face crop and on the edit region; LMD of the mouth landmarks; SyncNet's LSE-D and LSE-C of
the generated video against its audio. The face is framed once per clip from the reference (the
authors' recipe: a fixed square of 1.6 x the median face box, `data.faces`), and the same crop is
cut from both videos at 256 px, so every face metric compares the same pixels. The edit region
is the reference's edit mask per frame (`data.masks`, the release's framing). The mouth's scores
(`metrics.mouth`) see what PSNR and lip-sync correlation hide: articulation (the lip opening's
spread over time, generated over reference), the opening's error and r frame by frame (these
three mean what they say where both videos speak the same audio, as in reconstruction), and
the mouth box's fine texture, generated over reference (noise above 1, blur below), on the same
crops. LPIPS of the edit
region compares the reference with the generated lower face pasted into it, so only the edit
region can differ. FID compares sets, not pairs: the FID Inception's features of every
generated frame's face crop against those of every reference frame, over all pairs (`score_videos`).
LPIPS, SyncNet and FID need weights and are optional (`Scorer` takes them as functions); the rest
always run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import os
import tempfile
from typing import Callable

import numpy as np
from tqdm import tqdm

from diffdub_jax.data import audio, faces, masks, video
from diffdub_jax.data.files import write_bytes, write_json
from diffdub_jax.errors import MissingFileError, UserError
from diffdub_jax.metrics import fid as fid_metrics
from diffdub_jax.metrics import image
from diffdub_jax.metrics import mouth
from diffdub_jax.metrics.landmarks import mouth_landmark_distance

CROP_SIZE = 256
Lpips = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (N, H, W, 3) uint8 pairs -> (N,) distances
Sync = Callable[[np.ndarray, np.ndarray], dict]  # (T, H, W, 3) uint8 face crops, 16 kHz waveform -> lse_d, lse_c
Fid = Callable[[np.ndarray], np.ndarray]  # (N, H, W, 3) uint8 frames -> (N, 2048) FID Inception features
Features = dict[str, np.ndarray]  # 'generated', 'reference' -> (frames, 2048) features of the face crops


class ScoreError(UserError, ValueError):
    """Videos that cannot be scored together; the message names the files and the reason."""


def _videos(path: str) -> dict[str, str]:
    if os.path.isfile(path):
        return {os.path.splitext(os.path.basename(path))[0]: path}
    if not os.path.isdir(path):
        raise ScoreError(f"{path}: no such file or directory")
    return {os.path.splitext(name)[0]: os.path.join(path, name) for name in sorted(os.listdir(path))
            if os.path.splitext(name)[1].lower() in video.VIDEO_EXTENSIONS}


def pair_videos(generated: str, reference: str) -> list[tuple[str, str, str]]:
    """(name, generated file, reference file): two files are one pair; two folders pair by file
    name without extension. Generated videos without a reference are an error (a typo would
    otherwise silently drop a clip from the table)."""
    generated_videos, reference_videos = _videos(generated), _videos(reference)
    if os.path.isfile(generated) and os.path.isfile(reference):
        return [(next(iter(reference_videos)), generated, reference)]
    unmatched = sorted(set(generated_videos) - set(reference_videos))
    if unmatched:
        raise ScoreError(f"{generated}: no reference video in {reference} for {unmatched}")
    if not generated_videos:
        raise ScoreError(f"{generated}: no video files ({', '.join(video.VIDEO_EXTENSIONS)})")
    return [(name, generated_videos[name], reference_videos[name]) for name in sorted(generated_videos)]


@dataclasses.dataclass
class Scorer:
    """Scores one generated video against its reference. lpips / sync / fid: the weighted metrics,
    or None to leave them out (fid embeds the face crops; the distance itself is over a whole set,
    `score_videos`); detector: faces.DlibDetector() by default; batch: frames per step."""

    lpips: Lpips | None = None
    sync: Sync | None = None
    fid: Fid | None = None
    detector: faces.LandmarkDetector | None = None
    batch: int = 32

    def score(self, generated: str, reference: str, audio_path: str | None = None) -> dict:
        """Metric -> value (means over frames) for one pair, plus `frames` and `lmd_frames`."""
        return self.score_with_features(generated, reference, audio_path)[0]

    def score_with_features(self, generated: str, reference: str,
                            audio_path: str | None = None) -> tuple[dict, Features]:
        """`score`'s metrics, and with `fid` both videos' face crop features for a set's FID ({} without)."""
        video.check_input(generated)
        video.check_input(reference)
        waveform = None
        if self.sync is not None:  # read first: a bad audio file fails before any decoding
            waveform = audio.load_audio(audio_path) if audio_path else video.extract_audio_track(generated)
        if self.detector is None:  # loads dlib's models once per Scorer
            self.detector = faces.DlibDetector()
        detector = self.detector
        with tempfile.TemporaryDirectory(prefix="diffdub_score_") as scratch:
            info, ours = video.decode_video(generated, scratch, "generated.npy")
            reference_info, theirs = video.decode_video(reference, scratch, "reference.npy")
            if info.num_frames != reference_info.num_frames:
                raise ScoreError(f"{generated} has {info.num_frames} frames but its reference {reference} has "
                                 f"{reference_info.num_frames}: score videos of the same length")
            if (info.width, info.height) != (reference_info.width, reference_info.height):
                raise ScoreError(f"{generated} is {info.width}x{info.height} but its reference {reference} is "
                                 f"{reference_info.width}x{reference_info.height}")
            track = faces.track_face(theirs, detector)
            if track.box is None or not track.found.any():
                raise ScoreError(f"{reference}: no face found, so there is no face crop to score")
            result, features = self._score_frames(ours, theirs, track, detector)
            if self.sync is not None:  # SyncNet's windows are 5 frames at 25 fps: other rates are resampled
                frames = ours if abs(info.fps - 25) < 1e-3 else video.read_frames(generated, info, fps=25)
                result.update(self.sync(np.stack([faces.crop_face(frame, track.box, CROP_SIZE) for frame in frames]),
                                        waveform))
        return result, features

    def _score_frames(self, ours: np.ndarray, theirs: np.ndarray, track: faces.FaceTrack,
                      detector: faces.LandmarkDetector) -> tuple[dict, Features]:
        values: dict[str, list] = {key: [] for key in ("psnr", "ssim", "face_psnr", "face_ssim", "edit_psnr",
                                                       "edit_ssim", "face_lpips", "edit_lpips")}
        texture: dict[str, list] = {"generated": [], "reference": []}
        features: dict[str, list] = {"generated": [], "reference": []}
        edit_landmarks = track.landmarks_at(CROP_SIZE)
        for start in tqdm(range(0, len(ours), self.batch), desc="score", leave=False):
            count = min(self.batch, len(ours) - start)
            # a full batch every time (the last frame repeated), so the jitted metrics compile once
            index = np.minimum(np.arange(start, start + self.batch), len(ours) - 1)
            a, b = np.asarray(ours[index]), np.asarray(theirs[index])
            values["psnr"].append(image.psnr(a, b)[:count])
            values["ssim"].append(image.ssim(a, b)[:count])
            crop_a = np.stack([faces.crop_face(frame, track.box, CROP_SIZE) for frame in a])
            crop_b = np.stack([faces.crop_face(frame, track.box, CROP_SIZE) for frame in b])
            # frames where the reference's face was not found take the nearest found frame's mask
            region = np.stack([masks.edit_mask(edit_landmarks[i], CROP_SIZE)
                               for i in faces.nearest_found(track.found, index)])
            face_ssim, edit_ssim = image.ssim(crop_a, crop_b, region)
            values["face_psnr"].append(image.psnr(crop_a, crop_b)[:count])
            values["face_ssim"].append(face_ssim[:count])
            values["edit_psnr"].append(image.psnr(crop_a, crop_b, region)[:count])
            values["edit_ssim"].append(edit_ssim[:count])
            lips = edit_landmarks[faces.nearest_found(track.found, index[:count])]
            texture["generated"].append(mouth.mouth_textures(crop_a[:count], lips))
            texture["reference"].append(mouth.mouth_textures(crop_b[:count], lips))
            if self.lpips is not None:
                pasted = np.where(region[..., None], crop_a, crop_b)
                values["face_lpips"].append(self.lpips(crop_a, crop_b)[:count])
                values["edit_lpips"].append(self.lpips(pasted, crop_b)[:count])
            if self.fid is not None:
                features["generated"].append(self.fid(crop_a)[:count])
                features["reference"].append(self.fid(crop_b)[:count])
        # LMD on the frames where both faces are found; the reference's landmarks are what the track
        # found in it, unsmoothed
        with_face = np.flatnonzero(track.found)
        ours_points = faces.landmarks_per_frame(ours, track.box, detector, with_face)
        both = ~np.isnan(ours_points).any(axis=(1, 2))
        lmd = mouth_landmark_distance(ours_points[both], track.detected[with_face[both]], track.box.side)
        result = {key: float(np.mean(np.concatenate(parts))) for key, parts in values.items() if parts}
        result["mouth_texture_ratio"] = float(np.concatenate(texture["generated"]).mean()
                                              / max(np.concatenate(texture["reference"]).mean(), 1e-9))
        result.update(mouth.articulation_scores(ours_points, track.detected[with_face]))
        result["frames"] = len(ours)
        result["lmd"] = float(np.mean(lmd)) if len(lmd) else float("nan")
        result["lmd_frames"] = len(lmd)
        return result, {key: np.concatenate(parts) for key, parts in features.items() if parts}


# Part of each cached pair's file name: bump it when a column is added or computed differently, so
# an evaluation resumed after an upgrade scores its pairs again instead of mixing versions.
SCORES_VERSION = 3
COLUMNS = ("psnr", "ssim", "face_psnr", "face_ssim", "edit_psnr", "edit_ssim", "face_lpips", "edit_lpips", "lmd",
           "mouth_articulation", "mouth_opening_error", "mouth_opening_r", "mouth_texture_ratio", "lse_d", "lse_c")


def score_videos(pairs: list[tuple[str, str, str]], scorer: Scorer, audio: dict[str, str] | None = None,
                 cache_dir: str | None = None) -> dict:
    """{'clips': {name: metrics}, 'mean': metric -> mean over clips} for (name, generated, reference)
    pairs; audio: name -> the audio file each generated video is synced to (default: its own track).
    With scorer.fid, mean['fid'] is one FID over frames, not clips: every generated frame's face
    crop against every reference frame's, over all pairs (`fid_frames` frames on each side).
    With cache_dir, each pair's scores are kept as <name>.<columns>.json there (with FID, its crop
    features beside them as <name>.<columns>.fid.npz, so a reused pair still counts in the set)
    and reused while newer than its generated video (an interrupted evaluation does not score a
    clip twice)."""
    clips = {}
    generated_set, reference_set = fid_metrics.FeatureStats(), fid_metrics.FeatureStats()
    for name, generated, reference in tqdm(pairs, desc="clips"):
        cached = _cache_files(cache_dir, name, scorer) if cache_dir else []
        if cached and all(os.path.isfile(path) and os.path.getmtime(path) >= os.path.getmtime(generated)
                          for path in cached):
            clips[name], features = _read_cache(cached)
        else:
            clips[name], features = scorer.score_with_features(generated, reference, (audio or {}).get(name))
            if cached:
                _write_cache(cached, clips[name], features)
        if scorer.fid is not None:
            generated_set.add(features["generated"])
            reference_set.add(features["reference"])
    keys = [key for key in COLUMNS if all(key in metrics for metrics in clips.values())]
    result = {"clips": clips, "mean": {key: _mean([metrics[key] for metrics in clips.values()]) for key in keys}}
    if scorer.fid is not None:
        result["mean"]["fid"] = fid_metrics.fid(generated_set, reference_set)
        result["fid_frames"] = generated_set.count
    return result


def _cache_files(cache_dir: str, name: str, scorer: Scorer) -> list[str]:
    """Where one pair's cached scores go: its metrics (JSON) and, with FID, its crop features (npz)."""
    weighted = [metric for metric in ("lpips", "sync", "fid") if getattr(scorer, metric) is not None]
    columns = "+".join([f"base{SCORES_VERSION}", *weighted])
    stem = os.path.join(cache_dir, f"{name}.{columns}")
    return [f"{stem}.json"] + [f"{stem}.fid.npz"] * (scorer.fid is not None)


def _read_cache(files: list[str]) -> tuple[dict, Features]:
    with open(files[0], encoding="utf-8") as handle:
        metrics = json.load(handle)
    if len(files) == 1:
        return metrics, {}
    with np.load(files[1]) as features:
        return metrics, {key: features[key] for key in features.files}


def _write_cache(files: list[str], metrics: dict, features: Features) -> None:
    """The features first: the JSON, written last, marks the pair as done."""
    if len(files) > 1:
        buffer = io.BytesIO()
        np.savez(buffer, **features)
        write_bytes(files[1], buffer.getvalue())
    write_json(files[0], metrics)


def _mean(values: list[float]) -> float:
    """Mean over the clips that have a value (LMD is NaN where no mouth was found in any frame)."""
    values = [value for value in values if not np.isnan(value)]
    return float(np.mean(values)) if values else float("nan")


def table(scores: dict) -> str:
    """The scores as a Markdown table: one row per clip and the mean (set-level FID: '-' per clip)."""
    keys = list(scores["mean"])
    rows = [" | ".join(["clip", *keys]), " | ".join(["---"] * (len(keys) + 1))]
    for name, metrics in list(scores["clips"].items()) + [("mean", scores["mean"])]:
        rows.append(" | ".join([name, *(f"{metrics[key]:.4f}" if key in metrics else "-" for key in keys)]))
    return "\n".join(rows)


def _require(*modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingFileError(f"the weighted metrics need {', '.join(missing)}: pip install -e '.[metrics]'")


def lpips_metric(backbone_path: str, net: str = "alex") -> Lpips:
    """LPIPS v0.1 of uint8 frames, from the torchvision backbone file the user names (the linear
    heads ship with the `lpips` package); FileNotFoundError names a missing file and its source."""
    import jax  # pylint: disable=import-outside-toplevel

    from diffdub_jax.convert.lpips import load_lpips  # pylint: disable=import-outside-toplevel
    from diffdub_jax.data.pixels import to_unit_range  # pylint: disable=import-outside-toplevel

    _require("lpips", "torch")
    model, params = load_lpips(net, backbone_path)
    distance = jax.jit(lambda a, b: model.apply({"params": params}, a, b))
    return lambda a, b: np.asarray(distance(to_unit_range(a), to_unit_range(b)), np.float64)


def sync_metric(syncnet_path: str) -> Sync:
    """LSE-D / LSE-C with SyncNet v2 weights from syncnet_path (FileNotFoundError names a missing file)."""
    _require("cv2", "python_speech_features", "torch")
    from diffdub_jax.convert.syncnet import load_syncnet  # pylint: disable=import-outside-toplevel
    from diffdub_jax.metrics.syncnet import sync_scores  # pylint: disable=import-outside-toplevel

    model, params = load_syncnet(syncnet_path)
    return lambda frames, waveform: sync_scores(frames, waveform, model, params)


def fid_metric(inception_path: str) -> Fid:
    """FID Inception pool3 features of uint8 frames, scaled to [0, 1] as pytorch-fid's ToTensor does,
    from pytorch-fid's weights file (FileNotFoundError names a missing file, its URL and the flag)."""
    _require("torch")
    import jax  # pylint: disable=import-outside-toplevel

    from diffdub_jax.convert.inception import load_inception  # pylint: disable=import-outside-toplevel

    model, params = load_inception(inception_path)
    features = jax.jit(model.apply)  # params as an argument, not ~90 MB of constants in the program
    return lambda frames: np.asarray(features({"params": params}, np.asarray(frames, np.float32) / 255))


def make_scorer(lpips_backbone: str | None = None, lpips_net: str = "alex", syncnet: str | None = None,
                fid_inception: str | None = None) -> Scorer:
    """A Scorer with the weighted metrics whose files are given (loaded now: a missing file fails
    before any video is read)."""
    return Scorer(lpips=lpips_metric(lpips_backbone, lpips_net) if lpips_backbone else None,
                  sync=sync_metric(syncnet) if syncnet else None,
                  fid=fid_metric(fid_inception) if fid_inception else None)


def run(generated: str, reference: str, output: str, *, audio_path: str | None = None,
        lpips_backbone: str | None = None, lpips_net: str = "alex", syncnet: str | None = None,
        fid_inception: str | None = None) -> dict:
    """score's command: pairs the videos, loads the weighted metrics asked for (their files are
    checked before any video is read), scores every pair, writes the JSON; returns the scores."""
    pairs = pair_videos(generated, reference)
    audio_files = None
    if audio_path:
        audio_files = ({pairs[0][0]: audio_path} if os.path.isfile(audio_path) and len(pairs) == 1
                       else _audio_files(audio_path))
    scores = score_videos(pairs, make_scorer(lpips_backbone, lpips_net, syncnet, fid_inception), audio_files)
    write_json(output, scores)
    return scores


def _audio_files(path: str) -> dict[str, str]:
    if not os.path.isdir(path):
        raise ScoreError(f"{path}: expected a folder of audio files named as the videos")
    return {os.path.splitext(name)[0]: os.path.join(path, name) for name in sorted(os.listdir(path))}
