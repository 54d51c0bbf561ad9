"""`score` on real-face clips: the paper's columns, pairing by name, and clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import SMALL
from diffdub_jax.data import video
from diffdub_jax.evaluation import dubbing, score
from diffdub_jax.inference.models import DubbingModels
from hdtf_fixtures import talking_video
from renderer_fixtures import random_stages


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A real face talking (the reference), a copy whose lower face is shifted down 3 px (a
    'generated' video that differs only there), and a shorter clip."""
    root = tmp_path_factory.mktemp("score")
    (root / "reference").mkdir()
    (root / "generated").mkdir()
    info = talking_video(str(root / "reference" / "clip.mp4"), 1.2, 25, (256, 192), face_size=110)
    frames = list(video.read_frames(info["path"]))
    changed = []
    for frame, (x0, y0, x1, y1) in zip(frames, info["boxes"]):
        frame = frame.copy()
        top, bottom, left = int(y0 + 0.6 * (y1 - y0)), int(y1), int(x0)
        frame[top + 3:bottom] = frame[top:bottom - 3]  # the mouth moved 3 px down
        frame[top:bottom, :left] = frames[0][top:bottom, :left]
        changed.append(frame)
    video.write_video(str(root / "generated" / "clip.mp4"), changed, 25.0, audio_path=info["path"])
    talking_video(str(root / "short.mp4"), 0.6, 25, (256, 192), face_size=110)
    return root


def test_a_video_against_itself_scores_perfectly_and_a_changed_mouth_does_not(clips):
    scorer = score.Scorer()
    same = scorer.score(str(clips / "reference" / "clip.mp4"), str(clips / "reference" / "clip.mp4"))
    assert same["frames"] == 30 and same["lmd_frames"] == 30
    assert same["psnr"] == same["face_psnr"] == same["edit_psnr"] == np.inf
    assert same["ssim"] == pytest.approx(1.0) and same["edit_ssim"] == pytest.approx(1.0) and same["lmd"] == 0.0
    assert same["mouth_texture_ratio"] == 1.0 and same["mouth_articulation"] == 1.0

    pairs = score.pair_videos(str(clips / "generated"), str(clips / "reference"))
    assert [name for name, _, _ in pairs] == ["clip"]
    scores = score.score_videos(pairs, scorer)
    changed = scores["clips"]["clip"]
    assert 20 < changed["psnr"] < 60 and changed["edit_psnr"] < changed["face_psnr"] < changed["psnr"]
    assert changed["edit_ssim"] < changed["face_ssim"] < 1.0
    assert 0.8 < changed["mouth_texture_ratio"] < 1.25  # moved, not blurred
    assert 0.5 < changed["lmd"] < 15, changed["lmd"]  # 3 px down in the frame, in pixels of a 256 px crop
    assert scores["mean"]["lmd"] == changed["lmd"]
    lines = score.table(scores).splitlines()
    assert lines[0].startswith("clip | psnr | ssim") and lines[-1].startswith("mean | ")


@pytest.mark.slow
def test_score_cli_writes_the_table_and_fails_clearly(clips, tmp_path):
    output = tmp_path / "metrics.json"
    command = [sys.executable, "-m", "diffdub_jax.score", f"--generated={clips / 'generated'}",
               f"--reference={clips / 'reference'}", f"--output={output}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "edit_psnr" in done.stdout and "mean" in done.stdout
    assert set(json.loads(output.read_text())["clips"]) == {"clip"}
    for bad, expected in [
        ([f"--generated={clips / 'short.mp4'}", f"--reference={clips / 'reference' / 'clip.mp4'}"],
         "has 15 frames but its reference"),
        ([f"--generated={tmp_path / 'missing.mp4'}", f"--reference={clips / 'reference'}"], "missing.mp4"),
        ([f"--generated={clips / 'generated'}", f"--reference={clips / 'reference'}",
          f"--lpips_backbone={tmp_path / 'alexnet-owt-7be5be79.pth'}"], "alexnet-owt-7be5be79.pth"),
        ([f"--generated={clips / 'generated'}", f"--reference={clips / 'reference'}",
          f"--syncnet={tmp_path / 'syncnet_v2.model'}"], "syncnet_v2.model"),
    ]:
        result = subprocess.run([sys.executable, "-m", "diffdub_jax.score", *bad, f"--output={tmp_path / 'x.json'}"],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 1 and expected in result.stderr and "Traceback" not in result.stderr, \
            result.stderr[-2000:]
        assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_evaluate_dubs_a_test_split_in_both_settings_and_resumes(small_data_dir, tmp_path):
    models = DubbingModels.load(*random_stages(tmp_path))
    output = tmp_path / "eval"
    result = dubbing.evaluate_dubbing(models, str(output), dataset=SMALL, data_dir=small_data_dir,
                                      max_clips=2, max_frames=30)
    assert result["clips"] == 2 and len(result["cross_audio_pairs"]) == 2
    for setting in ("reconstruction", "cross_audio"):
        scores = result[setting]
        assert len(scores["clips"]) == 2 and {"psnr", "face_ssim", "edit_psnr", "lmd"} <= set(scores["mean"])
    for clip, partner in result["cross_audio_pairs"].items():
        assert clip != partner
        dubbed = video.probe_video(str(output / "cross_audio" / f"{clip}.mp4"))
        assert dubbed.num_frames == video.probe_video(str(output / "cross_audio_references" / f"{clip}.mp4")).num_frames
    assert json.loads((output / "metrics.json").read_text())["clips"] == 2
    done = {path: path.stat().st_mtime for path in [*output.glob("*/*.mp4"), *output.glob("scores/*/*.json")]}
    again = dubbing.evaluate_dubbing(models, str(output), dataset=SMALL, data_dir=small_data_dir,
                                     max_clips=2, max_frames=30)
    assert {path: path.stat().st_mtime for path in done} == done, "finished dubs or scores were redone"
    assert json.dumps(again["reconstruction"]) == json.dumps(result["reconstruction"])
    with pytest.raises(ValueError, match="unknown evaluation settings"):  # before any model loads
        dubbing.evaluate_dubbing(models, str(output), dataset=SMALL, data_dir=small_data_dir,
                                 settings=("reconstruction", "lipsync"))
