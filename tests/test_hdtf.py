"""The HDTF builder on a tiny HDTF made of real faces, in both forms users have (hdtf_fixtures.py)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from diffdub_jax.data import audio, datasets, masks, video
from hdtf_fixtures import write_cut_clips, write_hdtf_release
from tfds_builders.hdtf import metadata, sources

SIZE = 256
FPS = 25


def _build(tmp_path_factory, name, write):
    """write(manual dir) -> what it wrote; the dataset built locally from it."""
    root = tmp_path_factory.mktemp(name)
    written = write(str(root / "manual"))
    datasets.prepare("hdtf", str(root / "tfds"), manual_dir=str(root / "manual"))
    return written, str(root / "tfds")


@pytest.fixture(scope="module")
def hdtf_release(tmp_path_factory):
    """The release as published (metadata + source videos)."""
    return _build(tmp_path_factory, "hdtf", write_hdtf_release)


@pytest.fixture(scope="module")
def cut_clips(tmp_path_factory):
    """Already-cut clips (29.97, 30 and 25 fps; 44.1 kHz stereo and 22.05 kHz mono)."""
    return _build(tmp_path_factory, "hdtf_cut", write_cut_clips)


def _clips(data_dir: str) -> dict[str, dict]:
    """{clip name: {split, frames: concatenated segments, records}} of a built dataset."""
    clips = {}
    for split in ("train", "test"):
        source = datasets.clip_source("hdtf", split, data_dir)
        for index in range(len(source)):
            record = source[index]
            name = record["clip_id"].decode()
            clips.setdefault(name, {"split": split, "records": []})["records"].append(record)
    for clip in clips.values():
        clip["records"].sort(key=lambda record: record["segment"])
    return clips


def _check_clip(name: str, clip: dict, duration: float, face_boxes_at) -> None:
    """Shapes, the 25 fps frame count, 16 kHz audio aligned to the frames, and a crop that follows
    the face: face_boxes_at(times) gives the drawn face's box (source pixels) at those times."""
    records = clip["records"]
    num_frames = int(round(duration * FPS))
    assert records[0]["clip_frames"] == num_frames, (name, records[0]["clip_frames"], duration)
    assert sum(len(record["frames"]["image"]) for record in records) == num_frames
    assert [record["first_frame"] for record in records] == list(
        np.cumsum([0] + [len(record["frames"]["image"]) for record in records[:-1]]))
    for record in records:
        frames = record["frames"]
        first, count = int(record["first_frame"]), len(frames["image"])
        assert record["sample_rate"] == audio.SAMPLE_RATE and record["fps"] == FPS
        assert datasets.decode_frame(frames["image"][0]).shape == (SIZE, SIZE, 3)
        landmarks = np.asarray(frames["landmarks"])
        assert landmarks.shape == (count, 68, 2) and np.asarray(frames["face_found"]).all()
        assert (landmarks >= 0).all() and (landmarks < SIZE).all(), f"{name}: landmarks outside the crop"
        # The audio spans the frames (16 kHz: 640 samples per frame), and its context is real audio.
        offset, waveform = int(record["waveform_offset"]), np.asarray(record["waveform"])
        assert len(waveform) >= offset + count * 640 - 640 and waveform.dtype == np.int16
        # The crop follows the face: every frame's landmarks, back in source pixels, lie in the
        # face box drawn at that frame's time (a margin for dlib's points on the jaw).
        x0, y0, side = (int(value) for value in record["crop_box"])
        in_source = landmarks * side / SIZE + [x0, y0]
        boxes = face_boxes_at((first + np.arange(count)) / FPS)
        margin = 0.2 * (boxes[:, 2] - boxes[:, 0])[:, None]
        centre = in_source.mean(axis=1)
        assert ((centre >= boxes[:, :2] - margin) & (centre <= boxes[:, 2:] + margin)).all(), name
        for frame in range(0, count, 7):  # the mouth is inside the edit mask
            mask = masks.edit_mask(landmarks[frame], SIZE)
            mouth = np.rint(landmarks[frame, 48:68]).astype(int)
            assert mask[mouth[:, 1], mouth[:, 0]].all(), (name, frame)


def _boxes_at(video: dict, start: float):
    def at(times):
        index = np.clip(np.rint((start + times) * video["fps"]).astype(int), 0, len(video["boxes"]) - 1)
        return np.asarray(video["boxes"])[index]
    return at


@pytest.mark.slow
def test_the_release_as_published_builds_its_clips_and_lists_what_it_skipped(hdtf_release):
    written, data_dir = hdtf_release
    clips = _clips(data_dir)
    assert sorted(clips) == written["expected_clips"]
    test = sorted(name for name, clip in clips.items() if clip["split"] == "test")
    assert test == sorted(set(written["expected_clips"]) & sources.TEST_CLIPS) == written["test_clips"]
    assert set(test).isdisjoint(name for name, clip in clips.items() if clip["split"] == "train")
    for name, clip in clips.items():
        facts = written["clips"][name]
        video = written["videos"][f"{facts['group']}_{facts['video']}"]
        _check_clip(name, clip, facts["duration"], _boxes_at(video, facts["start"]))
        record = clip["records"][0]
        # The audio keeps up to 3 s of context before the clip, and speech starts with the clip:
        # the silent lead-in before a video's first clip is in the context, not in the clip.
        offset, waveform = int(record["waveform_offset"]), np.asarray(record["waveform"], np.float64)
        assert offset == round(min(3.0, facts["start"]) * 16000)
        if facts["index"] == 0:
            lead_in = waveform[offset - 14400 : offset - 1600]
            assert np.sqrt(np.mean(lead_in**2)) < 0.1 * np.sqrt(np.mean(waveform[offset : offset + 16000] ** 2)), name
    # The published window is used where the video has the annotated height (WRA_MikeEnzi, 720p).
    window = written["clips"]["WRA_MikeEnzi_000"]["window_pixels"]
    ratio = written["clips"]["WRA_MikeEnzi_000"]["ratio"]
    x0, y0, side = clips["WRA_MikeEnzi_000"]["records"][0]["crop_box"]
    assert abs(side - round(max(window[2], window[3]) * ratio)) <= 1
    assert abs(x0 + side / 2 - (window[0] + window[2] / 2)) <= 1

    summary = datasets.build_summary("hdtf", data_dir)
    skipped = {entry["clip"]: entry["reason"] for entry in summary["skipped"]}
    for name, why in written["skipped"].items():
        assert name in skipped, (name, why)
    assert "not in the manual dir" in skipped["RD_Radio10_000"]
    assert "JaneDoe.mp4" in skipped["WDA_JaneDoe_000"] and "corrupt" in skipped["WDA_JaneDoe_000"]
    assert skipped["WRA_JohnDoe_000"] == "no face found"
    assert any(where in skipped for where in written["malformed_lines"])
    assert sorted(summary["built"]["test"]) == test


@pytest.mark.slow
@pytest.mark.parametrize("hd_size,margin", [((1280, 720), 3.0), ((1920, 1080), 2.2)], ids=["720p", "1080p"])
def test_windows_as_loose_as_the_published_ones_keep_the_face_they_frame(tmp_path_factory, hd_size, margin):
    """HDTF's windows frame head and shoulders: the face box is a third to a half of the window's
    side (BernieSanders_0: a 974 px window at 1080p around a face a third of that). A video at its
    annotated height is cropped with the window, and every frame's face is the one it frames."""
    written, data_dir = _build(tmp_path_factory, "hdtf_loose", lambda root: write_hdtf_release(
        root, hd_size=hd_size, window_margin=margin))
    clips = _clips(data_dir)
    assert sorted(clips) == written["expected_clips"]
    for name in ("WRA_MikeEnzi_000", "WRA_MikeEnzi_001"):  # the clips cropped with the published window
        facts = written["clips"][name]
        assert facts["resolution"] == hd_size[1] and facts["size"] == hd_size
        union, window = facts["face_union"], facts["window_pixels"]
        assert 1 / 3.2 < (union[2] - union[0]) / window[2] < 0.5, (union, window)
        _check_clip(name, clips[name], facts["duration"], _boxes_at(written["videos"]["WRA_MikeEnzi"], facts["start"]))


@pytest.mark.slow
def test_already_cut_clips_build_at_25_fps_and_16_khz_from_any_rate(cut_clips):
    written, data_dir = cut_clips
    clips = _clips(data_dir)
    assert sorted(clips) == written["expected_clips"]
    assert sorted(name for name, clip in clips.items() if clip["split"] == "test") == written["test_clips"]
    rates = set()
    for name, clip in clips.items():
        facts = written["clips"][name]
        rates.add((facts["fps"], facts["audio_rate"], facts["channels"]))
        _check_clip(name, clip, facts["duration"], _boxes_at(facts, 0.0))
    assert len(rates) == 3  # 29.97 / 44.1 kHz stereo, 30 / 44.1 kHz stereo, 25 / 22.05 kHz mono
    skipped = {entry["clip"]: entry["reason"] for entry in datasets.build_summary("hdtf", data_dir)["skipped"]}
    assert set(skipped) == set(written["skipped"])


def test_a_beam_build_gives_the_same_examples_as_the_local_build(cut_clips, tmp_path):
    written, data_dir = cut_clips
    beam_dir = str(tmp_path / "tfds")
    datasets.prepare("hdtf", beam_dir, manual_dir=written["root"], beam_args=[])
    for split in ("train", "test"):
        local, beam = (datasets.clip_source("hdtf", split, d) for d in (data_dir, beam_dir))
        assert len(local) == len(beam)
        for index in range(len(local)):
            a, b = local[index], beam[index]
            assert a["clip_id"] == b["clip_id"] and list(a["frames"]["image"]) == list(b["frames"]["image"])
            for key in ("waveform", "waveform_offset", "crop_box", "first_frame"):
                np.testing.assert_array_equal(a[key], b[key])
            np.testing.assert_array_equal(np.asarray(a["frames"]["landmarks"]), np.asarray(b["frames"]["landmarks"]))
    assert (json.dumps(datasets.build_summary("hdtf", beam_dir)["skipped"], sort_keys=True)
            == json.dumps(sorted(datasets.build_summary("hdtf", data_dir)["skipped"], key=lambda e: e["clip"]),
                          sort_keys=True))


def test_metadata_quirks_are_read_and_bad_lines_reported(tmp_path):
    folder = tmp_path / metadata.METADATA_DIR
    folder.mkdir()
    (folder / "RD_annotion_time.txt").write_bytes(
        "\ufeffRadio34.mp4 00:05-00:20 01:02:03-01:02:09.5 \r\nBad.mp4 00:30-00:10\r\n\r\nNone.mp4\r\n".encode())
    (folder / "RD_crop_wh.txt").write_text("Radio34_1.mp4 10 300 20 310  \nRadio34_0.mp4 1 2 x\n")
    (folder / "RD_crop_ratio.txt").write_text("Radio34_1.mp4 1.2\n")
    (folder / "RD_resolution.txt").write_text("Radio34.mp4 1080\t\n")
    entries, problems = metadata.read_release(str(folder))
    assert [(e.name, e.start, e.end) for e in entries] == [("RD_Radio34_000", 5.0, 20.0),
                                                           ("RD_Radio34_001", 3723.0, 3729.5)]
    assert entries[0].window is None
    assert entries[1].window == metadata.Window(10.0, 20.0, 300.0, 310.0, 1.2, 1080)
    assert sorted(where for where, _ in problems) == ["RD_annotion_time.txt:2", "RD_annotion_time.txt:4",
                                                      "RD_crop_wh.txt:2"]


# The `real` presets, with sizes shrunk only by overrides (--config.<field>=...). Batches of 8:
# one example per device of 2 processes x 4 CPU devices.
RENDERER_OVERRIDES = {
    "data.batch_size": 8, "data.image_size": 32, "data.cache_clips": 8,
    "model.channels": 16, "model.channel_mult": (1, 2), "model.encoder_channel_mult": (1, 2, 2),
    "model.num_res_blocks": 1, "model.attention_resolutions": (), "model.embed_channels": 32,
    "diffusion.sample_steps": 2, "train.num_steps": 2, "train.checkpoint_every": 2, "train.log_every": 1,
    # the sampler and the reconstruction evaluator at the end of the run, as the preset runs them on a pod
    "train.sample_every": 2, "evals.reconstruction.every": 2, "evals.reconstruction.batches": 1,
    "evals.reconstruction.lipsync_clips": 1, "evals.reconstruction.lipsync_frames": 4,
}
MOTION_OVERRIDES = {
    "data.batch_size": 8, "data.window_frames": 20, "data.num_reference_frames": 10,
    "model.latent_dim": 32, "model.audio_dim": 32, "model.audio_layers": 3, "model.hidden_units": 32,
    "model.kernel_size": 5, "model.reference_blocks": 1, "model.speech_blocks": 1, "model.decoder_blocks": 1,
    "model.cross_attention_heads": 2, "train.num_steps": 2, "train.checkpoint_every": 2, "train.log_every": 1,
    # held-out dubbing at the end of the run, as the preset runs it on a pod (one short clip, own audio)
    "evals.dubbing.every": 2, "evals.dubbing.max_clips": 1, "evals.dubbing.max_frames": 10,
    "evals.dubbing.settings": "('reconstruction',)",
}


def _flags(overrides: dict) -> list[str]:
    return [f"--config.{key}={value}" for key, value in overrides.items()]


def _run(*args: str, processes: int = 1, timeout: int = 900) -> list[str]:
    """`python -m diffdub_jax.<args>` as typed, as `processes` processes of 4 CPU devices meeting at
    a coordinator; asserts each exits 0 without a traceback and returns their stderr."""
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4")
    command = [sys.executable, "-m", f"diffdub_jax.{args[0]}", *args[1:]]
    if processes > 1:
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            port = probe.getsockname()[1]
        command += [f"--coordinator_address=localhost:{port}", f"--num_processes={processes}"]
    workers = [subprocess.Popen(command + ([f"--process_id={i}"] if processes > 1 else []), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(processes)]
    outputs = [worker.communicate(timeout=timeout) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0 and "Traceback" not in stderr, f"{args[0]}: {stderr[-3000:]}"
    return [stdout for stdout, _ in outputs]


@pytest.mark.slow
def test_the_readme_hdtf_recipe_walked_through_its_commands(tmp_path):
    """The README's HDTF recipe as a user types it, on a tiny release of real faces: the `real`
    presets shrunk only by --config overrides, pod steps as 2 processes of 4 CPU devices."""
    transformers = pytest.importorskip("transformers")
    written = write_hdtf_release(str(tmp_path / "manual"))
    data_dir, renderer, motion = str(tmp_path / "tfds"), str(tmp_path / "renderer"), str(tmp_path / "motion")
    printed = _run("prepare_data", "--dataset=hdtf", f"--manual_dir={tmp_path / 'manual'}", f"--data_dir={data_dir}")
    assert f"test: {len(written['test_clips'])} clips built" in printed[0]
    renderer_flags = ["--config=configs/renderer.py", *_flags({**RENDERER_OVERRIDES, "data.data_dir": data_dir})]

    _run("train", *renderer_flags, f"--workdir={renderer}", processes=2)
    assert (tmp_path / "renderer" / "samples" / "step_00000002.png").is_file()
    in_training = json.loads((tmp_path / "renderer" / "evals" / "reconstruction" / "step_00000002" /
                              "reconstruction.json").read_text())
    _run("evaluate", *renderer_flags, f"--workdir={renderer}")
    evaluated = json.loads((tmp_path / "renderer" / "eval" / "reconstruction" / "reconstruction.json").read_text())
    assert evaluated["outside_mask_identical"] and "true_latents_lipsync_r" not in evaluated  # HDTF: no true mouth
    assert evaluated["edit_region_psnr"] == pytest.approx(in_training["edit_region_psnr"], abs=1e-3)

    latents = str(tmp_path / "latents")
    _run("extract_latents", f"--renderer_workdir={renderer}", f"--output={latents}", "--batch_size=16", processes=2)
    hubert_dir = str(tmp_path / "hubert")  # a tiny HuBERT-large layout of random weights
    transformers.HubertModel(transformers.HubertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7,
        num_conv_pos_embedding_groups=4, num_conv_pos_embeddings=7, feat_extract_norm="layer",
        do_stable_layer_norm=True, conv_bias=True)).save_pretrained(hubert_dir)
    features = str(tmp_path / "features")
    motion_flags = ["--config=configs/motion.py", *_flags({
        **MOTION_OVERRIDES, "data.data_dir": data_dir, "data.latents_dir": latents, "audio.hubert_dir": hubert_dir,
        "data.features_dir": features})]
    _run("extract_audio_features", *motion_flags, f"--output={features}", processes=2)
    refused = subprocess.run([sys.executable, "-m", "diffdub_jax.train", *motion_flags, f"--workdir={motion}",
                              "--config.evals.motion_lipsync.every=1"], capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1].startswith(
        "train: evals.motion_lipsync: a motion_lipsync evaluator runs on the synthetic set"), refused.stderr[-2000:]
    _run("train", *motion_flags, f"--workdir={motion}", processes=2)
    dubbed = json.loads((tmp_path / "motion" / "evals" / "dubbing" / "step_00000002" / "metrics.json").read_text())
    assert dubbed["clips"] == 1 and {"psnr", "lmd", "mouth_articulation"} <= set(dubbed["reconstruction"]["mean"])

    evaluation = tmp_path / "eval_test"
    _run("evaluate", *renderer_flags, f"--workdir={renderer}", f"--motion_workdir={motion}", "--split=test",
         f"--output={evaluation}", "--max_clips=2", "--max_frames=20", f"--hubert_dir={hubert_dir}")
    table = json.loads((evaluation / "metrics.json").read_text())
    assert table["clips"] == 2 and set(table["cross_audio_pairs"]) <= set(written["test_clips"])
    assert {"psnr", "edit_ssim", "lmd"} <= set(table["reconstruction"]["mean"]) <= set(table["cross_audio"]["mean"])
    clip = sorted(table["cross_audio_pairs"])[0]
    source = evaluation / "sources" / f"{clip}.mp4"
    _run("infer", f"--video={source}", f"--output={tmp_path / 'dubbed.mp4'}", f"--renderer_workdir={renderer}",
         f"--motion_workdir={motion}", f"--hubert_dir={hubert_dir}")
    dubbed, original = video.probe_video(str(tmp_path / "dubbed.mp4")), video.probe_video(str(source))
    assert (dubbed.num_frames, dubbed.fps, dubbed.has_audio) == (original.num_frames, original.fps, True)


def test_prepare_data_says_what_to_download_and_writes_nothing(tmp_path):

    data_dir = tmp_path / "tfds"
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "notes.txt").write_text("no videos here")
    for manual in ([], [f"--manual_dir={tmp_path / 'absent'}"], [f"--manual_dir={tmp_path / 'manual'}"]):
        result = subprocess.run([sys.executable, "-m", "diffdub_jax.prepare_data", "--dataset=hdtf",
                                 f"--data_dir={data_dir}", *manual], capture_output=True, text=True, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert "prepare_data: " in result.stderr and "HDTF" in result.stderr
        assert not list(data_dir.glob("hdtf/*/1.0.0*")), "a failed build left a dataset behind"
