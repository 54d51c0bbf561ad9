"""The demo job end to end on the small set: contact sheet and summary are written."""

import json
import os
import subprocess
import sys

from PIL import Image

from conftest import SMALL


def test_demo_writes_contact_sheet_and_summary(small_data_dir, tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "diffdub_jax.demo", f"--workdir={out}", f"--dataset={SMALL}",
         f"--data_dir={small_data_dir}"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "dataset_summary.json").read_text())
    assert summary["clips"] == 3 and summary["identities"] == 3
    assert summary["pixel_mouth_opening_vs_true_openness_r"]["per_clip_min"] > 0.9
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width == 7 * 128 and sheet.height == 3 * 192
    assert not [name for name in os.listdir(out) if ".tmp" in name]
