"""Frames per second of each of `score`'s metrics on this machine (random weights: the same cost).

    python benchmarks/metrics.py --frames=64

On 256 px face crops (full frames for the frame rows): PSNR and SSIM (batched, SSIM jitted; also on
720p frames), the edit mask, LMD (dlib landmarks on both videos' crops, on all cores as `score`),
LPIPS AlexNet (jitted, batch 32), the FID Inception's features (jitted, batch 32, each crop resized
to 299 px; one video's frames), SyncNet LSE (jitted embeddings, 31 offsets). Prints a Markdown table.

Measured on the 2-core CPU machine (64 frames, 2026-12-03; that hour's machine was ~1.3x faster
than 2026-11-30's: PSNR 938 frames/s then):
| metric | frames/s (cpu) |
|---|---|
| PSNR (256 px) | 1172.6 |
| SSIM (256 px, batch 32) | 233.9 |
| SSIM (1280 x 720 frames, batch 8) | 17.3 |
| edit mask | 2577.2 |
| LMD (dlib on both videos) | 135.9 |
| LPIPS AlexNet (batch 32) | 57.8 |
| FID Inception features (batch 32) | 10.4 |
| SyncNet LSE (31 offsets) | 18.5 |
The version before (0a1d101), same run: SSIM 139.1 (720p: 4.1), LMD 72.8 (one thread).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging
from PIL import Image
from skimage import data

from diffdub_jax.data import faces, masks
from diffdub_jax.metrics import image, syncnet
from diffdub_jax.metrics.landmarks import mouth_landmark_distance
from diffdub_jax.models import syncnet as syncnet_model
from diffdub_jax.models.inception import FIDInception
from diffdub_jax.models.lpips import LPIPS

_FRAMES = flags.DEFINE_integer("frames", 64, "Frames per measurement.")


def _rate(fn, frames: int) -> float:
    fn()  # compile / warm up
    start = time.perf_counter()
    fn()
    return frames / (time.perf_counter() - start)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # the table, not the libraries' INFO lines
    count = _FRAMES.value
    photo = data.astronaut()
    crops = np.stack([photo[20 + i % 8:276 + i % 8, 120:376] for i in range(count)])
    noisy = np.clip(crops + np.random.default_rng(0).normal(0, 8, crops.shape), 0, 255).astype(np.uint8)
    detector = faces.DlibDetector()
    box = faces.CropBox(0, 0, 256, (60.0, 60.0, 200.0, 200.0))
    points = detector.detect(crops[0])[0].landmarks
    rows = []
    rows.append(("PSNR (256 px)", _rate(lambda: image.psnr(noisy, crops), count)))
    rows.append(("SSIM (256 px, batch 32)", _rate(lambda: [image.ssim(noisy[i:i + 32], crops[i:i + 32])
                                                          for i in range(0, count, 32)], count)))
    frames = np.stack([np.asarray(Image.fromarray(photo).resize((1280, 720))) for _ in range(8)])
    noisy_frames = np.clip(frames + np.random.default_rng(1).normal(0, 8, frames.shape), 0, 255).astype(np.uint8)
    rows.append(("SSIM (1280 x 720 frames, batch 8)", _rate(lambda: image.ssim(noisy_frames, frames), len(frames))))
    rows.append(("edit mask", _rate(lambda: [masks.edit_mask(points, 256) for _ in range(count)], count)))

    def lmd():
        both = np.concatenate([noisy, crops])
        found = faces.landmarks_per_frame(both, box, detector, range(len(both)))
        return mouth_landmark_distance(found[:count], found[count:], 256)

    rows.append(("LMD (dlib on both videos)", _rate(lmd, count)))
    model = LPIPS("alex")
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 64, 64, 3)), jnp.zeros((1, 64, 64, 3)))
    distance = jax.jit(model.apply)
    unit = [jnp.asarray(x / 127.5 - 1, jnp.float32) for x in (noisy, crops)]
    rows.append(("LPIPS AlexNet (batch 32)", _rate(lambda: [distance(params, unit[0][i:i + 32], unit[1][i:i + 32])
                                                            .block_until_ready() for i in range(0, count, 32)], count)))
    inception = FIDInception()
    inception_params = jax.jit(inception.init)(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    features = jax.jit(inception.apply)
    pixels = jnp.asarray(crops / 255, jnp.float32)
    rows.append(("FID Inception features (batch 32)", _rate(lambda: [features(inception_params, pixels[i:i + 32])
                                                                     .block_until_ready()
                                                                     for i in range(0, count, 32)], count)))
    sync = syncnet_model.SyncNet()
    sync_params = jax.jit(sync.init)(jax.random.key(0), jnp.zeros((1, 13, 20, 1)), jnp.zeros((1, 5, 224, 224, 3)))
    waveform = np.random.default_rng(1).normal(0, 0.1, count * 640).astype(np.float32)
    rows.append(("SyncNet LSE (31 offsets)", _rate(lambda: syncnet.sync_scores(crops, waveform, sync,
                                                                               sync_params["params"]), count)))
    print(f"| metric | frames/s ({jax.devices()[0].platform}) |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.1f} |")


if __name__ == "__main__":
    app.run(main)
