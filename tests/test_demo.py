"""The demo job end to end on the small set: dataset sheet, a short training, reconstructions."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from diffdub_jax.data import video

from conftest import SMALL

pytestmark = pytest.mark.slow  # trains both stages and dubs: `make test-all`


def test_demo_writes_its_outputs(small_data_dir, tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "diffdub_jax.demo", f"--workdir={out}", f"--dataset={SMALL}",
               f"--data_dir={small_data_dir}", "--renderer_config=configs/renderer.py:tiny",
               "--renderer_config.train.num_steps=4", "--motion_config=configs/motion.py:tiny",
               "--motion_config.train.num_steps=2", "--dub_pairs=2"]
    env = dict(os.environ)  # conftest set XLA_FLAGS for compile-bound runs
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["clips"] == 3 and summary["dataset"]["identities"] == 3
    assert summary["dataset"]["pixel_mouth_opening_vs_true_openness_r"]["per_clip_min"] > 0.9
    reconstruction = summary["renderer_held_out_reconstruction"]
    assert reconstruction["outside_mask_identical"] and reconstruction["frames"] > 0
    assert all(-1 <= reconstruction[k] <= 1 for k in
               ("true_latents_lipsync_r", "shuffled_latents_lipsync_r", "source_pixels_lipsync_r"))
    assert Image.open(out / "contact_sheet.png").size == (7 * 128, 3 * 192)
    assert Image.open(out / "reconstructions.png").width == 4 * 32
    dub = summary["dub"]
    assert json.loads((out / "lipsync.json").read_text()) == dub
    assert dub["dubbed"]["frames"] == dub["source_no_sync_baseline"]["frames"] > 50
    assert [(p["source_clip"], p["audio_clip"]) for p in dub["pairs"]] == [
        (dub["source_clip"], dub["audio_clip"]), (dub["audio_clip"], dub["pairs"][1]["audio_clip"])]
    assert dub["over_pairs"]["pairs"] == 2 and len({p["audio_clip"] for p in dub["pairs"]}) == 2
    assert (out / "pairs" / f"{dub['pairs'][1]['source_clip']}_with_{dub['pairs'][1]['audio_clip']}" / "dubbed.mp4").is_file()
    phases = {name: seconds for name, seconds in summary["timings"].items() if name != "total_s"}
    assert len(phases) == 8 and all(seconds > 0 for name, seconds in phases.items() if name != "dataset_s")
    rounding = 0.05 * len(phases)  # each phase is rounded to 0.1 s
    assert sum(phases.values()) - rounding <= summary["timings"]["total_s"] <= sum(phases.values()) + 60
    scores = summary["held_out_reconstruction_scores"]  # both stages, each clip with its own audio
    assert len(scores["clips"]) == 2 and json.loads((out / "held_out_reconstruction_scores.json").read_text()) == scores
    assert {"psnr", "ssim", "edit_psnr", "edit_ssim", "lmd", "mouth_articulation", "mouth_opening_error",
            "mouth_opening_r", "mouth_texture_ratio"} <= set(scores["mean"])
    # a 4-step renderer's mouth may be unrecognisable: dlib then finds no lips (NaN), never a negative error
    assert all(clip["mouth_texture_ratio"] > 0 and not clip["mouth_opening_error"] < 0 for clip in scores["clips"].values())
    strip = Image.open(out / "mouth_strip.png")  # 8 mouths at 4x, source over dub, above the curves
    assert strip.width > 8 * 4 * 8 and strip.height > 2 * 4 * 8
    assert all(10 < clip["psnr"] < 60 and 0 < clip["ssim"] <= 1 for clip in scores["clips"].values())
    dubbed, source = video.probe_video(str(out / "dubbed.mp4")), video.probe_video(str(out / "source.mp4"))
    assert (dubbed.width, dubbed.height, dubbed.fps) == (source.width, source.height, source.fps) == (256, 256, 25.0)
    assert video.probe_video(str(out / "side_by_side.mp4")).width == 2 * 256 + 4
    assert Image.open(out / "dub_strip.png").size == (8 * 256, 2 * 256)
    assert not [name for name in os.listdir(out) if ".tmp" in name or name.endswith(".partial")]
    rerun = subprocess.run(command, capture_output=True, text=True, check=False, env=env)  # reuses finished steps
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    timings = json.loads((out / "summary.json").read_text())["timings"]
    assert timings["train_renderer_s"] < summary["timings"]["train_renderer_s"]
    assert timings["dub_s"] == timings["evaluate_renderer_s"] == timings["score_reconstructions_s"] == 0.0
