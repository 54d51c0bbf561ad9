"""Held-out evaluation of stage 2: latent error, and lip sync measured from rendered pixels.

For each held-out clip the first num_reference_frames frames are the references (few-shot: their
latents; one-shot: the first frame's latent repeated) and the frames after them are predicted
from the clip's audio. Scores:
- latent MSE against the stage-1 latents of the true frames;
- latent mouth r: the mouth openness read off the latents by a linear probe fit on training
  latents (renderer-free), correlated with the true openness over all predicted frames;
- lip sync: stage 1 renders a segment of frames from the predicted latents, the mouth opening is
  measured from the rendered pixels (metrics.lipsync) and correlated (Pearson r, per clip) with the
  true mouth openness of the synthetic set. Two references frame it: the same renders from the
  true latents (what a perfect stage 2 reaches through this renderer) and predictions from
  another clip's audio (no sync, r near 0).
"""

from __future__ import annotations

import ml_collections
import numpy as np

from diffdub_jax.data import datasets, pipeline, record_store
from diffdub_jax.evaluation.reconstruction import SegmentRenderer
from diffdub_jax.metrics import lipsync
from diffdub_jax.serving.audio_frontend import AudioFrontend
from diffdub_jax.serving.motion_service import MotionService, reference_indices
from diffdub_jax.serving.renderer_service import RendererService

MODES = ("one_shot", "few_shot")
PROBE_CLIPS = 64


def mouth_probe(config: ml_collections.ConfigDict, split: str = "train", num_clips: int = PROBE_CLIPS) -> np.ndarray:
    """Ridge weights reading the mouth openness off z_sem (per-clip centred), fit on a training
    split: a renderer-free view of whether predicted latents move the mouth with the audio."""
    source = datasets.clip_source(config.data.name, split, config.data.data_dir)
    latents, openness = [], []
    for index in range(min(num_clips, len(source))):
        z = np.asarray(record_store.latents(config.data.latents_dir).load(split, index), np.float64)
        mouth = np.asarray(source[index]["frames"]["mouth"], np.float64)[:, 0]
        latents.append(z - z.mean(0))
        openness.append(mouth - mouth.mean())
    z, y = np.concatenate(latents), np.concatenate(openness)
    return np.linalg.solve(z.T @ z + 1e-4 * np.eye(z.shape[1]), z.T @ y)


def evaluate_motion(config: ml_collections.ConfigDict, motion: MotionService, renderer: RendererService, *,
                    split: str = "test", num_clips: int = 8, segment_frames: int = 32) -> dict:
    """Scores the motion generator on up to num_clips clips of split of the synthetic set, in both
    modes, rendering with renderer (the stage 1 its latents come from)."""
    render = SegmentRenderer(renderer)
    source = datasets.clip_source(config.data.name, split, config.data.data_dir)
    num_references = config.data.num_reference_frames
    clip_ids = range(min(num_clips, len(source)))
    clips = [source[i] for i in clip_ids]
    all_latents = [record_store.latents(config.data.latents_dir).load(split, i) for i in clip_ids]
    frontend = AudioFrontend(config.audio)
    audio = [frontend.for_clip(clip) for clip in clips]

    def predicted(audio_features, latents, mode):
        refs = np.asarray(latents)[reference_indices(np.arange(len(latents)), num_references, mode)]
        start = 2 * num_references  # audio frames of the predicted frames
        return motion.predict(audio_features[..., start:, :], refs)

    probe = mouth_probe(config)

    def probed_r(latents, mouth):
        return lipsync.pearson(np.asarray(latents, np.float64) @ probe, mouth)

    scores = {mode: {"latent_mse": [], "lipsync_r": [], "no_sync_r": [], "latent_mouth_r": []} for mode in MODES}
    true_latent_r, source_pixels_r, true_probe_r = [], [], []
    for k, (clip, latents, features) in enumerate(zip(clips, all_latents, audio)):
        frames = clip["frames"]
        mouth = np.asarray(frames["mouth"])[:, 0]
        segment = np.arange(num_references, min(num_references + segment_frames, len(latents)))
        offset = segment - num_references
        rendered, landmarks = render(frames, segment, 0, np.asarray(latents)[segment])
        true_latent_r.append(lipsync.pearson(lipsync.mouth_openings(rendered, landmarks), mouth[segment]))
        images = np.stack([pipeline.frame_at_size(frames, int(i), render.size)[0] for i in segment])
        source_pixels_r.append(lipsync.pearson(lipsync.mouth_openings(images, landmarks), mouth[segment]))
        true_probe_r.append(probed_r(np.asarray(latents)[num_references:], mouth[num_references:]))
        other = audio[(k + 1) % len(audio)]
        for mode in MODES:
            prediction = predicted(features, latents, mode)
            scores[mode]["latent_mse"].append(float(np.mean((prediction - latents[num_references:]) ** 2)))
            scores[mode]["latent_mouth_r"].append(probed_r(prediction, mouth[num_references:]))
            rendered, _ = render(frames, segment, 0, prediction[offset])
            scores[mode]["lipsync_r"].append(lipsync.pearson(lipsync.mouth_openings(rendered, landmarks), mouth[segment]))
            mismatched = predicted(other[..., : features.shape[-2], :], latents, mode)
            if len(mismatched) >= len(offset):
                rendered, _ = render(frames, segment, 0, mismatched[offset])
                scores[mode]["no_sync_r"].append(
                    lipsync.pearson(lipsync.mouth_openings(rendered, landmarks), mouth[segment]))
    result = {mode: {name: float(np.mean(values)) for name, values in table.items()} for mode, table in scores.items()}
    result["true_latents_lipsync_r"] = float(np.mean(true_latent_r))
    result["true_latents_mouth_r"] = float(np.mean(true_probe_r))
    result["source_pixels_lipsync_r"] = float(np.mean(source_pixels_r))
    result["latent_variance"] = float(np.mean([np.var(np.asarray(lat)[num_references:], axis=0).mean()
                                               for lat in all_latents]))
    result["clips"] = len(clips)
    result["frames_rendered_per_clip"] = int(segment_frames)
    return result
