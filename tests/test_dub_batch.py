"""`dub_batch`: many jobs, one load of the models; a bad job recorded, the others dubbed; a rerun
skips what is written."""

import json
import subprocess
import sys

import numpy as np
import pytest

from diffdub_jax.data import video
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.inference.batch import read_manifest, run_jobs, run_jobs_on_beam
from diffdub_jax.inference.models import ModelSpec
from hdtf_fixtures import talking_video
from renderer_fixtures import random_stages


def test_a_manifest_is_read_with_defaults_and_a_bad_one_names_its_row(tmp_path):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("video,audio\nclips/a.mov,\n/abs/b.mp4,speech.wav\n")
    jobs = read_manifest(str(manifest), str(tmp_path / "out"))
    assert [(job.video, job.audio, job.output) for job in jobs] == [
        (str(tmp_path / "clips" / "a.mov"), None, str(tmp_path / "out" / "a.mp4")),
        ("/abs/b.mp4", str(tmp_path / "speech.wav"), str(tmp_path / "out" / "b.mp4"))]
    lines = tmp_path / "jobs.jsonl"
    lines.write_text('{"video": "a.mp4", "output": "x.mp4"}\n\n{"video": "b.mp4"}\n')
    assert [job.output for job in read_manifest(str(lines), "out")] == [str(tmp_path / "x.mp4"), "out/b.mp4"]
    for text, suffix, message in (("clip\na.mp4\n", "csv", "header naming its columns"),
                                  ("video,size\na.mp4,3\n", "csv", "job 1 needs a 'video'"),
                                  ("video\nx/a.mp4\ny/a.mp4\n", "csv", "jobs 1 and 2 would both write"),
                                  ('{"video": "a.mp4"}\n{video}\n', "jsonl", "jobs.jsonl:2: not a JSON object"),
                                  ("video\n", "csv", "no jobs")):
        bad = tmp_path / f"jobs.{suffix}"
        bad.write_text(text)
        with pytest.raises(InvalidInputError, match=message):
            read_manifest(str(bad), "out")


@pytest.mark.slow
def test_four_jobs_one_corrupt_three_dubs_its_error_recorded_and_a_rerun_writes_nothing(tmp_path):
    renderer, motion = random_stages(tmp_path / "stages")
    for name, seconds in (("anna", 0.6), ("ben", 0.8), ("cara", 0.6)):
        talking_video(str(tmp_path / f"{name}.mp4"), seconds, fps=25, motion_seed=len(name))
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video at all")
    (tmp_path / "jobs.csv").write_text("video,audio,output\nanna.mp4,,\nben.mp4,cara.mp4,\nbroken.mp4,,\n"
                                       "cara.mp4,,named/cara_dub.mp4\n")
    command = [sys.executable, "-m", "diffdub_jax.dub_batch", f"--manifest={tmp_path / 'jobs.csv'}",
               f"--output_dir={tmp_path / 'out'}", f"--renderer_workdir={renderer}", f"--motion_workdir={motion}",
               "--reference=first"]
    first = subprocess.run(command, capture_output=True, text=True, check=False)
    assert first.returncode == 1 and "Traceback" not in first.stderr, first.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["dubbed"], summary["skipped"], summary["failed"]) == (3, 0, 1)
    failed, = [job for job in summary["jobs"] if job["status"] == "failed"]
    assert "broken.mp4" in failed["error"] and "\n" not in failed["error"]
    assert f"failed {tmp_path / 'broken.mp4'}" in first.stdout
    outputs = {"anna": tmp_path / "out" / "anna.mp4", "ben": tmp_path / "out" / "ben.mp4",
               "cara": tmp_path / "named" / "cara_dub.mp4"}
    frames = {name: video.probe_video(str(path)).num_frames for name, path in outputs.items()}
    assert frames == {"anna": 15, "ben": 15, "cara": 15}  # ben follows cara's 0.6 s of speech
    written = {path: path.stat().st_mtime_ns for path in outputs.values()}

    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert again.returncode == 1, again.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["dubbed"], summary["skipped"], summary["failed"]) == (0, 3, 1)
    assert {path: path.stat().st_mtime_ns for path in outputs.values()} == written
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["anna.mp4", "ben.mp4", "summary.json"]


@pytest.mark.slow
def test_the_beam_direct_runner_writes_the_same_frames_as_the_in_process_run(tmp_path):
    pytest.importorskip("apache_beam")
    renderer, motion = random_stages(tmp_path / "stages")
    for name in ("anna", "ben"):
        talking_video(str(tmp_path / f"{name}.mp4"), 0.4, fps=25, motion_seed=len(name))
    (tmp_path / "jobs.jsonl").write_text('{"video": "anna.mp4"}\n{"video": "ben.mp4", "audio": "anna.mp4"}\n')
    spec = ModelSpec(renderer, motion)
    runs = {}
    for how in ("local", "beam"):
        jobs = read_manifest(str(tmp_path / "jobs.jsonl"), str(tmp_path / how))
        if how == "local":
            runs[how] = run_jobs(jobs, spec.load(), str(tmp_path / how), reference="first")
        else:
            runs[how] = run_jobs_on_beam(jobs, spec, str(tmp_path / how), ["--runner=DirectRunner"],
                                         reference="first")
        assert runs[how]["dubbed"] == 2, runs[how]
    for name in ("anna", "ben"):
        local, beam = (list(video.read_frames(str(tmp_path / how / f"{name}.mp4"))) for how in ("local", "beam"))
        assert len(local) == len(beam) == 10
        np.testing.assert_array_equal(np.stack(local), np.stack(beam))
