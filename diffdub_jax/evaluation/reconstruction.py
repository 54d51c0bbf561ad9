"""Held-out evaluation of stage 1: reconstructions (edit-region PSNR) and lip sync from z_sem.

Reconstruction: z_sem from the true frame, DDIM render, edit-region PSNR. Two baselines frame the
number: the masked input (the edit region as the renderer receives it, zeros) and the reference
frame's own pixels pasted into the edit region (what a renderer that ignored z_sem and copied the
reference would score).

Lip sync: consecutive frames of held-out clips rendered from their own z_sem, with the clip's
first frame as the reference and one x_T, as `infer` does; the mouth opening measured from the rendered pixels is
correlated with the set's true mouth openness. It asks the question PSNR hides: does the mouth
follow z_sem? Two references frame it: the source pixels at the same size (the ceiling), and the
same renders with z_sem taken from other frames of the clip (no sync, near 0).
"""

from __future__ import annotations

import os
from typing import Mapping

import ml_collections
import numpy as np
from PIL import Image

from diffdub_jax.data import datasets, faces, pipeline
from diffdub_jax.data.files import write_json
from diffdub_jax.data.framing import Framing
from diffdub_jax.data.pixels import sample_grid, to_uint8, to_unit_range
from diffdub_jax.metrics import lipsync, mouth
from diffdub_jax.metrics.image import masked_psnr, ssim
from diffdub_jax.metrics.landmarks import mouth_landmark_distance
from diffdub_jax.serving.renderer_service import RendererService

class SegmentRenderer:
    """Renders a dataset clip's frames with given latents, as `infer` does: the clip's frame
    `reference_index` as the reference, one shared x_T (the config's seed + 2)."""

    def __init__(self, service: RendererService):
        self.service = service
        self.size = service.image_size
        self.framing: Framing = service.framing
        self.x_T = service.noise(service.config.seed + 2)

    def encode(self, frames: Mapping, indices: np.ndarray) -> np.ndarray:
        """z_sem (N, D) of the frames' clean eye-guided crops."""
        return self.service.encode(np.stack([pipeline.clean_encoder_crop(frames, int(i), self.size) for i in indices]))

    def __call__(self, frames: Mapping, indices: np.ndarray, reference_index: int, latents: np.ndarray):
        """uint8 renders (N, S, S, 3) and the landmarks (N, 68, 2) at that size."""
        images, landmarks, edit_masks = zip(*(pipeline.frame_with_edit_mask(frames, int(i), self.framing)
                                              for i in indices))
        reference = to_unit_range(pipeline.frame_at_size(frames, reference_index, self.size)[0])
        rendered = self.service.render(to_unit_range(np.stack(images)), reference, np.stack(edit_masks), self.x_T,
                                       z_sem=latents)
        return to_uint8(rendered), np.stack(landmarks)


def evaluate_lipsync(config: ml_collections.ConfigDict, render: SegmentRenderer, split: str = "test",
                     num_clips: int = 8, segment_frames: int = 32) -> dict:
    """Frames rendered from their own z_sem over segment_frames consecutive frames from the middle
    of each of up to num_clips clips (away from the silence a clip may start with), against the
    same frames' pixels: the opening's spread over time rendered over source (articulation: below
    1, the renderer damps the mouth), the mouth box's fine texture rendered over source (noise
    above 1, blur below) and, where the dataset knows the true openness (the synthetic set), the
    mean per-clip Pearson r of the mouth opening with it; and LMD, the mouth landmarks dlib finds
    on the renders against those on the source frames."""
    source = datasets.clip_source(config.data.name, split, config.data.data_dir)
    scores = {"true_latents_lipsync_r": [], "shuffled_latents_lipsync_r": [], "source_pixels_lipsync_r": [],
              "true_latents_articulation": []}
    textures = {"rendered": [], "source": []}
    distances = []
    detector = faces.DlibDetector()
    for index in range(min(num_clips, len(source))):
        frames = source[index]["frames"]
        num_frames = len(frames["image"])
        start = max(0, (num_frames - segment_frames) // 2)
        segment = np.arange(start, min(start + segment_frames, num_frames))
        # The synthetic set knows the true openness behind each frame; real sets (HDTF) do not, and
        # are scored against their own pixels only.
        truth = np.asarray(frames["mouth"])[segment, 0] if "mouth" in frames else None
        latents = render.encode(frames, segment)
        images = np.stack([pipeline.frame_at_size(frames, int(i), render.size)[0] for i in segment])
        rendered, landmarks = render(frames, segment, 0, latents)
        openings, source_openings = lipsync.mouth_openings(rendered, landmarks), lipsync.mouth_openings(images, landmarks)
        scores["true_latents_articulation"].append(openings.std() / max(source_openings.std(), 1e-9))
        textures["rendered"].append(mouth.mouth_textures(rendered, landmarks))
        textures["source"].append(mouth.mouth_textures(images, landmarks))
        distances.append(landmark_distances(rendered, images, landmarks, detector))
        if truth is not None:
            # Latents of the same clip in another order: the person is right, the sync is gone.
            shuffled = latents[np.random.default_rng(index).permutation(len(segment))]
            shuffled_openings = lipsync.mouth_openings(render(frames, segment, 0, shuffled)[0], landmarks)
            scores["true_latents_lipsync_r"].append(lipsync.pearson(openings, truth))
            scores["shuffled_latents_lipsync_r"].append(lipsync.pearson(shuffled_openings, truth))
            scores["source_pixels_lipsync_r"].append(lipsync.pearson(source_openings, truth))
    result = {name: float(np.mean(values)) for name, values in scores.items() if values}
    result["true_latents_texture_ratio"] = float(np.concatenate(textures["rendered"]).mean()
                                                 / max(np.concatenate(textures["source"]).mean(), 1e-9))
    distances = np.concatenate(distances)
    result["true_latents_lmd"] = float(distances.mean()) if len(distances) else float("nan")
    result["lmd_frames"] = int(len(distances))
    return result


def landmark_distances(rendered: np.ndarray, images: np.ndarray, landmarks: np.ndarray,
                              detector: faces.LandmarkDetector) -> np.ndarray:
    """LMD (metrics.landmarks, in 256 px crop units) between dlib's landmarks on the renders and on
    the source frames, over the frames where it finds the face in both (the face region: the
    dataset's landmarks' box; small crops are searched upscaled, as `score` does)."""
    size = rendered.shape[1]
    points = np.asarray(landmarks).reshape(-1, 2)
    box = faces.CropBox(0, 0, size, tuple(float(v) for v in (*np.nanmin(points, 0), *np.nanmax(points, 0))))
    indices = range(len(rendered))
    ours, theirs = (faces.landmarks_per_frame(frames, box, detector, indices) for frames in (rendered, images))
    both = ~np.isnan(ours).any(axis=(1, 2)) & ~np.isnan(theirs).any(axis=(1, 2))
    return mouth_landmark_distance(ours[both], theirs[both], size)


def evaluate_reconstruction(config: ml_collections.ConfigDict, service: RendererService, output_dir: str, *,
                            split: str = "test", num_batches: int = 8, lipsync_clips: int = 8,
                            lipsync_frames: int = 32) -> dict:
    """Renders num_batches held-out batches (random frames of the split's clips, fixed by the
    seed) with the service's parameters; returns edit-region PSNR and SSIM with their baselines
    and evaluate_lipsync's scores, and writes `reconstructions.png` and `reconstruction.json` to
    output_dir."""
    os.makedirs(output_dir, exist_ok=True)
    render = SegmentRenderer(service)  # one compilation for both evaluations
    stream = iter(pipeline.renderer_pipeline(config, split, augment_crop=False))
    rendered, targets, edit_masks, references, first = [], [], [], [], None
    for _ in range(num_batches):
        batch = pipeline.renderer_inputs(next(stream))
        out = service.render(batch["image"], batch["reference"], batch["edit_mask"], render.x_T,
                             encoder_crops=batch["encoder_crop"])
        if first is None:
            first = (batch, out)
        rendered.append(out)
        targets.append(batch["image"])
        edit_masks.append(batch["edit_mask"])
        references.append(batch["reference"][..., :3])
    rendered, targets, edit_masks, references = map(np.concatenate, (rendered, targets, edit_masks, references))
    masks = edit_masks[..., 0] >= 0.5

    def edit_region_ssim(images: np.ndarray) -> float:
        return float(np.mean(ssim(images, targets, masks, data_range=2.0)[1]))

    result = {
        "split": split,
        "frames": int(len(rendered)),
        "edit_region_psnr": masked_psnr(rendered, targets, edit_masks),
        "baseline_masked_input_psnr": masked_psnr(np.zeros_like(targets), targets, edit_masks),
        "baseline_reference_copy_psnr": masked_psnr(references, targets, edit_masks),
        "edit_region_ssim": edit_region_ssim(rendered),
        "baseline_reference_copy_ssim": edit_region_ssim(references),
        "outside_mask_identical": bool(np.array_equal(rendered[~masks], targets[~masks])),
        **evaluate_lipsync(config, render, split, lipsync_clips, lipsync_frames),
    }
    Image.fromarray(sample_grid(first[0], first[1])).save(os.path.join(output_dir, "reconstructions.png"))
    write_json(os.path.join(output_dir, "reconstruction.json"), result)
    return result
