"""`infer`: a real face dubbed end to end, and every bad input refused cleanly."""

import os
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
import soundfile

from conftest import load_config
from diffdub_jax.data import audio, faces, masks, paste, video
from diffdub_jax.inference.dub import ReferenceFrameError, dub
from diffdub_jax.inference.prepared import NoFaceError
from diffdub_jax.inference.models import DubbingModels
from diffdub_jax.models.motion import build_motion_generator, init_variables
from diffdub_jax.models.renderer import init_variables as init_renderer_variables
from diffdub_jax.models.renderer import renderer_from_config
from diffdub_jax.convert.hubert import HubertCheckpointError
from diffdub_jax.workdir import CheckpointMismatchError, Workdir

from gcs_emulator import gcs_bucket, gcs_dir  # noqa: F401  (pytest fixtures)
from renderer_fixtures import random_stages, tiny_config  # noqa: E402

FPS = 25.0


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Tiny stage-1 and stage-2 checkpoints (random weights: these tests check the pipeline)."""
    return random_stages(tmp_path_factory.mktemp("stages"))


@pytest.fixture(scope="module")
def models(stages):
    return DubbingModels.load(*stages)


def _astronaut_clip(path, num_frames=20, with_audio=True):
    """A real face (scikit-image's astronaut) moving a pixel or two per frame, 25 fps, 200x160."""
    from skimage import data  # pylint: disable=import-outside-toplevel
    photo = data.astronaut()
    frames = [np.ascontiguousarray(photo[20 + (i % 5) : 180 + (i % 5), 150 + i // 2 : 350 + i // 2]) for i in range(num_frames)]
    wav = str(path) + ".src.wav"
    soundfile.write(wav, 0.1 * np.sin(np.linspace(0, 800, int(num_frames / FPS * 16000))), 16000)
    video.write_video(str(path), frames, FPS, audio_path=wav if with_audio else None)
    return str(path), frames


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Speech from espeak-ng (22.05 kHz mono), longer than the 0.8 s clip: the video ping-pongs."""
    path = str(tmp_path_factory.mktemp("speech") / "speech.wav")
    subprocess.run(["espeak-ng", "-w", path, "dubbing a real face"], check=True)
    return path


@pytest.mark.slow
def test_real_face_is_dubbed_end_to_end(models, speech, tmp_path):
    source, frames = _astronaut_clip(tmp_path / "astronaut.mp4")
    decoded = np.stack(list(video.read_frames(source)))
    info = video.probe_video(source)
    output = str(tmp_path / "dubbed.mp4")
    seen = {}
    result = dub(source, output, models, audio_path=speech, on_frame=lambda t, s, f: seen.setdefault(t, (s, f)))

    out = video.probe_video(output)
    duration = len(audio.load_audio(speech)) / audio.SAMPLE_RATE
    assert (out.width, out.height) == (info.width, info.height) and out.fps == pytest.approx(info.fps)
    assert out.num_frames == result.num_frames == round(duration * FPS) > info.num_frames
    assert len(audio.load_audio(output)) / audio.SAMPLE_RATE == pytest.approx(duration, abs=0.05)
    assert result.frames_with_face == result.num_frames, "the astronaut's face was lost"
    for stage in ("detect", "audio", "motion", "render", "paste", "encode"):
        assert result.timings[stage] > 0

    config = tiny_config()
    # No framing flag: the crop is the one the renderer was trained with (the tiny preset's 2x the
    # face box, saved in its checkpoint), not the authors' 1.6x.
    assert result.crop_scale == config.data.crop_scale == 2.0
    track = faces.track_face(decoded, scale=2.0)  # the track dub used (deterministic)
    assert result.crop_box == track.box
    x0, y0, x1, y1 = track.box.face
    assert track.box.side == min(round(2.0 * max(x1 - x0, y1 - y0)), info.width, info.height)
    assert faces.track_face(decoded, scale=1.6).box.side < track.box.side
    assert [s for s, _ in (seen[t] for t in range(result.num_frames))] == list(result.schedule)
    assert track.found[result.reference_frame]  # auto: a frame with a face, chosen from its landmarks
    size, radius = config.data.image_size, config.data.mask_window
    assert radius > 0  # masks united over neighbouring frames are exercised
    box, changed_any = track.box, False
    for t, (s, frame) in seen.items():
        pasted = np.zeros(frame.shape[:2], bool)
        nearby = track.landmarks_at(size)[masks.window(s, len(decoded), radius)]
        pasted[box.y0 : box.y0 + box.side, box.x0 : box.x0 + box.side] = \
            paste.feather_mask(masks.edit_mask(nearby, size, config.data.mask_dilation), box.side) > 0
        changed = np.any(frame != decoded[s], axis=-1)
        assert not (changed & ~pasted).any(), f"frame {t}: pixels outside the pasted lower face changed"
        changed_any |= changed.any()
    assert changed_any, "nothing was re-rendered"


def test_bad_inputs_fail_clearly_and_leave_no_output(stages, models, speech, tmp_path):
    good, _ = _astronaut_clip(tmp_path / "good.mp4", num_frames=10)
    silent_video, _ = _astronaut_clip(tmp_path / "no_audio.mp4", num_frames=10, with_audio=False)
    blank = str(tmp_path / "blank.mp4")
    video.write_video(blank, [np.full((96, 96, 3), 128, np.uint8)] * 10, FPS)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"not a video" * 100)
    other_renderer = str(tmp_path / "other_renderer")
    config = tiny_config()
    config.model.embed_channels = 64
    params = jax.eval_shape(lambda: init_renderer_variables(renderer_from_config(config), jax.random.key(0)))
    params = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), params["params"])
    Workdir(other_renderer).save_variables({"params": params}, config)
    for workdirs, error, message in (((other_renderer, stages[1]), CheckpointMismatchError, "64-d latents"),
                                     ((str(tmp_path), stages[1]), FileNotFoundError, "no checkpoint"),
                                     ((stages[1], stages[1]), CheckpointMismatchError, "expected 'renderer'")):
        start = time.perf_counter()
        with pytest.raises(error, match=message):
            DubbingModels.load(*workdirs)
        assert time.perf_counter() - start < 2, f"{workdirs}: the error came late"

    output = str(tmp_path / "out" / "dubbed.mp4")
    os.makedirs(os.path.dirname(output))
    cases = [
        (dict(video_path=str(tmp_path / "missing.mp4")), video.VideoError, "missing.mp4"),
        (dict(video_path=str(corrupt)), video.VideoError, "corrupt.mp4"),
        (dict(video_path=silent_video, audio_path=None), video.VideoError, "no audio"),
        (dict(video_path=blank), NoFaceError, "no face found"),
        # known once the video is decoded, before its face track (a detector that cannot detect)
        (dict(reference=10, detector=object()), ReferenceFrameError, "reference frame 10 is not one of its 10 frames"),
        (dict(reference="middle"), ReferenceFrameError, "choose auto, first or a frame index"),
        (dict(output_path=str(tmp_path / "missing_dir" / "x.mp4")), video.VideoError, "missing_dir"),
    ]
    for overrides, error, message in cases:
        kwargs = dict(video_path=good, output_path=output, audio_path=speech)
        kwargs.update(overrides)
        start = time.perf_counter()
        with pytest.raises(error, match=message):
            dub(kwargs.pop("video_path"), kwargs.pop("output_path"), models, **kwargs)
        if error is not NoFaceError:  # found before decoding, detection or any model
            assert time.perf_counter() - start < 2, f"{overrides}: the error came late"
        assert os.listdir(os.path.dirname(output)) == [], f"{overrides} left files behind"

    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o500)
    if not os.access(read_only, os.W_OK):  # root ignores permissions
        with pytest.raises(video.VideoError, match="read_only"):
            dub(good, str(read_only / "x.mp4"), models, audio_path=speech)
    shutil.rmtree(read_only, ignore_errors=True)

    for bad_audio, content in (("empty.wav", b""), ("garbage.wav", os.urandom(4000))):
        (tmp_path / bad_audio).write_bytes(content)
        with pytest.raises(audio.AudioError, match=bad_audio):
            dub(good, output, models, audio_path=str(tmp_path / bad_audio))
        assert os.listdir(os.path.dirname(output)) == []
    stereo_48k = str(tmp_path / "stereo48k.wav")
    soundfile.write(stereo_48k, 0.1 * np.random.default_rng(0).standard_normal((24000, 2)), 48000)
    result = dub(good, output, models, audio_path=stereo_48k)  # resampled, not refused
    assert result.num_frames == 12 and os.path.isfile(output)


@pytest.mark.slow
def test_a_hubert_motion_model_reads_hubert_dir_and_a_missing_folder_fails_at_once(stages, speech, tmp_path):
    transformers = pytest.importorskip("transformers")
    config = load_config("motion", "tiny")
    config.audio.frontend = "hubert"
    config.model.audio_dim, config.model.audio_layers = 32, 3  # the tiny HuBERT below: 2 layers + projection
    variables = init_variables(build_motion_generator(config.model), config.model.audio_dim, jax.random.key(0))
    Workdir(tmp_path / "motion").save_variables(variables, config)
    missing = tmp_path / "no_hubert"
    start = time.perf_counter()
    with pytest.raises(HubertCheckpointError, match="no such HuBERT folder") as error:
        DubbingModels.load(stages[0], tmp_path / "motion", hubert_dir=str(missing))
    assert time.perf_counter() - start < 2
    assert f"--local-dir {missing}" in str(error.value) and "--hubert_dir" in str(error.value)

    folder = tmp_path / "hubert"
    transformers.HubertModel(transformers.HubertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7,
        num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4)).save_pretrained(str(folder))
    config.model.audio_layers = 25  # a motion model trained on HuBERT-large: this folder does not fit it
    Workdir(tmp_path / "large_motion").save_variables(variables, config)
    with pytest.raises(HubertCheckpointError, match="has 3 hidden states of 32 values, the motion model was trained "
                                                    "on 25 of 32"):
        DubbingModels.load(stages[0], tmp_path / "large_motion", hubert_dir=str(folder))

    models = DubbingModels.load(stages[0], tmp_path / "motion", hubert_dir=str(folder))
    source, _ = _astronaut_clip(tmp_path / "clip.mp4", num_frames=10)
    result = dub(source, str(tmp_path / "dubbed.mp4"), models, audio_path=speech)
    assert result.frames_with_face == result.num_frames and result.timings["audio"] > 0


@pytest.mark.slow
def test_a_clip_in_a_bucket_is_dubbed_into_the_bucket(models, speech, tmp_path, gcs_dir):
    """gs:// input and output (a local Cloud Storage emulator): staged on the local disk for ffmpeg;
    the same dub as from local files, and nothing left half-written in the bucket."""
    from etils import epath  # pylint: disable=import-outside-toplevel
    source, _ = _astronaut_clip(tmp_path / "clip.mp4", num_frames=10)
    epath.Path(source).copy(epath.Path(f"{gcs_dir}/clip.mp4"))
    epath.Path(speech).copy(epath.Path(f"{gcs_dir}/speech.wav"))
    local = dub(source, str(tmp_path / "local.mp4"), models, audio_path=speech)
    remote = dub(f"{gcs_dir}/clip.mp4", f"{gcs_dir}/dubbed.mp4", models, audio_path=f"{gcs_dir}/speech.wav")
    assert remote.output == f"{gcs_dir}/dubbed.mp4" and remote.num_frames == local.num_frames
    epath.Path(f"{gcs_dir}/dubbed.mp4").copy(epath.Path(tmp_path / "fetched.mp4"))
    np.testing.assert_array_equal(np.stack(list(video.read_frames(str(tmp_path / "fetched.mp4")))),
                                  np.stack(list(video.read_frames(str(tmp_path / "local.mp4")))))
    assert sorted(p.name for p in epath.Path(gcs_dir).iterdir()) == ["clip.mp4", "dubbed.mp4", "speech.wav"]
    with pytest.raises(FileNotFoundError, match="no such file"):
        dub(f"{gcs_dir}/missing.mp4", str(tmp_path / "o.mp4"), models)


@pytest.mark.slow
def test_infer_cli_prints_a_short_report_and_a_second_run_compiles_nothing(stages, speech, tmp_path):
    source, _ = _astronaut_clip(tmp_path / "clip.mp4", num_frames=10)
    # infer's default cache is $JAX_COMPILATION_CACHE_DIR (this test worker's, which the tests above
    # filled with the same tiny models' programs); every program is cached, however fast it compiled.
    cache = os.environ["JAX_COMPILATION_CACHE_DIR"]
    env = dict(os.environ, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    command = [sys.executable, "-m", "diffdub_jax.infer", f"--video={source}", f"--audio={speech}",
               f"--output={tmp_path / 'dubbed.mp4'}", f"--renderer_workdir={stages[0]}",
               f"--motion_workdir={stages[1]}"]
    # bytes: text mode would turn the progress bars' carriage returns into lines
    process = subprocess.run(command, capture_output=True, check=False, env=env)
    stdout, stderr = process.stdout.decode(), process.stderr.decode()
    assert process.returncode == 0, stderr[-3000:]
    # Lines as a terminal shows them: a progress bar redraws its line after each carriage return.
    lines = [line.split("\r")[-1] for line in (stdout + stderr).split("\n") if line.split("\r")[-1].strip()]
    assert len(lines) <= 15, "\n".join(lines)  # the timing table, the summary and a few progress bars
    assert "total" in stdout and "reference frame" in stdout
    assert not [line for line in lines if line.startswith(("I1", "INFO"))], "library INFO logs are shown"

    compiled = set(os.listdir(cache))
    assert compiled, "nothing was cached"
    again = subprocess.run(command, capture_output=True, check=False, env=env)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    assert set(os.listdir(cache)) == compiled, "the second run compiled programs the first had cached"


def test_infer_cli_reports_a_clear_error(tmp_path, stages):
    process = subprocess.run(
        [sys.executable, "-m", "diffdub_jax.infer", f"--video={tmp_path / 'nope.mp4'}",
         f"--output={tmp_path / 'o.mp4'}", f"--renderer_workdir={stages[0]}", f"--motion_workdir={stages[1]}"],
        capture_output=True, text=True, check=False)
    assert process.returncode != 0 and "infer:" in process.stderr and "nope.mp4" in process.stderr
    assert "Traceback" not in process.stderr
    steps = subprocess.run(
        [sys.executable, "-m", "diffdub_jax.infer", f"--video={tmp_path / 'nope.mp4'}", "--sample_steps=37",
         f"--output={tmp_path / 'o.mp4'}", f"--renderer_workdir={stages[0]}", f"--motion_workdir={stages[1]}"],
        capture_output=True, text=True, check=False)
    assert steps.returncode != 0 and "infer: cannot space 1000 timesteps into 37" in steps.stderr, steps.stderr
    assert "Traceback" not in steps.stderr
