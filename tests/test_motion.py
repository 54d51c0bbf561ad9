"""Stage 2: the Conformer motion generator, its converter, latent extraction and training."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffdub_jax.convert import motion as motion_convert
from diffdub_jax.data import record_store
from diffdub_jax.models.conformer import relative_shift
from diffdub_jax.models.motion import build_motion_generator, init_variables
from diffdub_jax.training import latents as latent_extraction
from diffdub_jax.serving.motion_service import MotionService, predict
from diffdub_jax.training import motion as motion_training
from diffdub_jax.training import tasks
from diffdub_jax.workdir import CheckpointMismatchError, Workdir
from diffdub_jax.training.state import create_state, make_optimizer

from conftest import load_config
from renderer_fixtures import init as init_renderer  # noqa: E402
from renderer_fixtures import official_small_renderer, tiny_config  # noqa: E402

OFFICIAL_KEYS = os.path.join(os.path.dirname(__file__), "data", "official_motion_keys.txt")


def _tiny(**overrides):
    config = load_config("motion", "tiny")
    for key, value in overrides.items():
        setattr(config.model, key, value)
    return config


def _inputs(config, batch=2, frames=12, refs=6, seed=0):
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal((batch, 2 * frames, config.model.audio_dim)).astype(np.float32)
    references = rng.standard_normal((batch, refs, config.model.latent_dim)).astype(np.float32)
    return audio, references


def _official_state_dict(seed=0):
    rng = np.random.default_rng(seed)
    state = {}
    with open(OFFICIAL_KEYS, encoding="utf-8") as handle:
        for line in handle:
            key, *shape = line.split()
            state[key] = rng.standard_normal([int(s) for s in shape]).astype(np.float32)
    return state


def test_relative_shift_indexes_relative_positions():
    length = 5
    scores = np.arange(2 * length - 1, dtype=np.float32)[None].repeat(length, 0)  # column k = position T-1-k
    shifted = np.asarray(relative_shift(jnp.asarray(scores)))
    i, j = np.meshgrid(np.arange(length), np.arange(length), indexing="ij")
    np.testing.assert_array_equal(shifted, (length - 1) - (i - j))


@pytest.mark.slow
def test_official_stage2_converts_with_its_architecture(tmp_path):
    torch = pytest.importorskip("torch")
    state = _official_state_dict()
    path = tmp_path / "stage2.ckpt"
    torch.save({"state_dict": {k: torch.from_numpy(v) for k, v in state.items()}, "epoch": 7}, path)
    result = subprocess.run([sys.executable, "-m", "diffdub_jax.convert", f"--checkpoint={path}",
                             f"--output={tmp_path / 'converted'}", "--config=configs/motion.py:synthetic"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    model_config = Workdir(tmp_path / "converted").restore_config().model
    assert (model_config.latent_dim, model_config.audio_dim, model_config.audio_layers) == (512, 1024, 25)
    assert (model_config.reference_blocks, model_config.speech_blocks, model_config.decoder_blocks) == (2, 4, 4)
    assert (model_config.num_heads, model_config.hidden_units, model_config.kernel_size) == (2, 512, 13)
    assert not model_config.residual_cross_attention and not model_config.normalise_latents
    variables = Workdir(tmp_path / "converted").restore_variables()
    cross = variables["params"]["cross_attention"]["self_attn"]["in_proj"]
    prefix = "seq2seq.encoder.cross_attention.self_attn."
    np.testing.assert_array_equal(cross["kernel"], state[prefix + "in_proj_weight"].T)
    np.testing.assert_array_equal(cross["bias"], state[prefix + "in_proj_bias"])
    block = variables["params"]["speech_encoder"]["encoders_3"]
    np.testing.assert_array_equal(block["conv_module"]["depthwise_conv"]["kernel"],
                                  state["seq2seq.encoder.speech_encoder.encoders.3.conv_module.depthwise_conv.weight"]
                                  .transpose(2, 1, 0))
    np.testing.assert_array_equal(block["self_attn"]["pos_bias_u"],
                                  state["seq2seq.encoder.speech_encoder.encoders.3.self_attn.pos_bias_u"])
    np.testing.assert_array_equal(
        variables["batch_stats"]["speech_encoder"]["encoders_3"]["conv_module"]["norm"]["var"],
        state["seq2seq.encoder.speech_encoder.encoders.3.conv_module.norm.running_var"])
    del state["seq2seq.encoder.out_proj.bias"]
    with pytest.raises(ValueError, match="1 parameters missing"):
        motion_convert.convert_motion_state_dict(state, build_motion_generator(model_config), 1024)


@pytest.mark.slow
def test_padding_never_changes_the_outputs_at_real_frames():
    config = _tiny(residual_cross_attention=True)
    model = build_motion_generator(config.model)
    variables = init_variables(model, config.model.audio_dim, jax.random.key(0))
    audio, references = _inputs(config, frames=12, refs=6)
    length, ref_length = 9, 4
    rng = np.random.default_rng(1)
    padded_audio = audio.copy()
    padded_audio[:, 2 * length :] = 100 * rng.standard_normal(padded_audio[:, 2 * length :].shape)
    padded_refs = references.copy()
    padded_refs[:, ref_length:] = 100.0
    valid = np.arange(12)[None].repeat(2, 0) < length
    ref_valid = np.arange(6)[None].repeat(2, 0) < ref_length

    for train in (False, True):  # running statistics; batch statistics over real frames
        def run(a, r, v, rv):
            out = model.apply(variables, a, r, v, rv, train=train, mutable=["batch_stats"] if train else False)
            return np.asarray(out[0] if train else out)

        full = run(padded_audio, padded_refs, valid, ref_valid)
        short = run(audio[:, : 2 * length], references[:, :ref_length], None, None)
        assert full.shape == (2, 12, config.model.latent_dim)
        np.testing.assert_allclose(full[:, :length], short, atol=2e-5, err_msg=f"train={train}")


@pytest.mark.slow
def test_service_pads_clips_of_similar_length_into_one_compiled_program():
    """`infer` on clips of 20 and 37 frames (and an odd feature count) compiles stage 2 once and
    predicts what the unpadded model predicts."""
    config = _tiny(residual_cross_attention=True)
    model = build_motion_generator(config.model)
    service = MotionService(config, init_variables(model, config.model.audio_dim, jax.random.key(0)))
    for frames, extra in ((20, 0), (37, 0), (30, 1)):
        audio, references = _inputs(config, batch=1, frames=frames, refs=6, seed=frames)
        audio = np.concatenate([audio, audio[:, :extra]], axis=1)  # 2T + extra features
        predicted = service.predict(audio[0], references[0])
        expected = np.asarray(model.apply(service.variables, audio, references))[0]
        assert predicted.shape == expected.shape == (frames + extra, config.model.latent_dim)
        np.testing.assert_allclose(predicted, expected, atol=2e-5)
    assert service._predict._cache_size() == 1  # pylint: disable=protected-access


@pytest.mark.slow
def test_tiny_generator_overfits_one_batch():
    config = _tiny()
    config.train.learning_rate = 3e-3
    model = build_motion_generator(config.model)
    variables = init_variables(model, config.model.audio_dim, jax.random.key(0))
    audio, references = _inputs(config, frames=16, refs=6)
    targets = np.random.default_rng(2).standard_normal((2, 16, config.model.latent_dim)).astype(np.float32)
    batch = {"audio_features": audio, "reference_latents": references, "latents": targets,
             "valid": np.ones((2, 16), bool)}
    optimizer = make_optimizer(config.train)
    state = create_state(variables["params"], optimizer, variables["batch_stats"])
    step = jax.jit(lambda s, b: motion_training.train_step(s, b, jax.random.key(0), model=model, optimizer=optimizer,
                                                         ema_decay=0.0))
    losses = []
    for _ in range(150):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    eval_loss = float(motion_training.masked_mse(
        predict({"params": state.params, "batch_stats": state.batch_stats}, audio, references,
                             model=model), targets, batch["valid"]))
    assert eval_loss < losses[0] / 10, (losses[0], eval_loss)


@pytest.mark.slow
def test_two_processes_extract_latents_each_its_share_as_one_process_does(small_data_dir, tmp_path):
    """`extract_latents` as a pod runs it: two processes (2 CPU devices each) meet at a coordinator,
    encode disjoint halves of the clips and, once both are done, process 0 writes info.json."""
    import socket  # pylint: disable=import-outside-toplevel

    renderer_dir = str(tmp_path / "renderer")
    Workdir(renderer_dir).save_variables({"params": init_renderer(official_small_renderer())},
                                         tiny_config(small_data_dir))
    one = str(tmp_path / "one")
    counts = latent_extraction.extract_latents(renderer_dir, one, ("train", "test"), batch_size=32)
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    two = str(tmp_path / "two")
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2")
    command = [sys.executable, "-m", "diffdub_jax.extract_latents", f"--renderer_workdir={renderer_dir}",
               f"--output={two}", "--batch_size=32", f"--coordinator_address=localhost:{port}", "--num_processes=2"]
    workers = [subprocess.Popen(command + [f"--process_id={i}"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
    assert "process 1/2" in outputs[1][1]
    for split, count in counts.items():
        for record in range(count):
            np.testing.assert_allclose(record_store.latents(two).load(split, record),
                                       record_store.latents(one).load(split, record), atol=1e-5)
    single, pair = record_store.latents(one).read_info(), record_store.latents(two).read_info()
    np.testing.assert_allclose(pair.latent_std, single.latent_std, rtol=1e-5)


@pytest.mark.slow
def test_latent_extraction_resumes_and_stage2_trains_on_it(small_data_dir, tmp_path):
    renderer_config = tiny_config(small_data_dir)
    params = init_renderer(official_small_renderer())
    renderer_dir = str(tmp_path / "renderer")
    Workdir(renderer_dir).save_variables({"params": params}, renderer_config)

    out = str(tmp_path / "latents")
    counts = latent_extraction.extract_latents(renderer_dir, out, ("test",), batch_size=32)
    first = record_store.latents(out).load("test", 0).copy()
    assert first.shape[1] == renderer_config.model.embed_channels and np.isfinite(first).all()
    os.remove(record_store.latents(out).path("test", 0))
    later = os.path.getmtime(record_store.latents(out).path("test", 1))
    assert latent_extraction.extract_latents(renderer_dir, out, ("test",), batch_size=32) == counts
    np.testing.assert_allclose(record_store.latents(out).load("test", 0), first, atol=1e-6)
    assert os.path.getmtime(record_store.latents(out).path("test", 1)) == later, "finished clips are redone"
    other_renderer = str(tmp_path / "other_renderer")  # another checkpoint must not add to these latents
    Workdir(other_renderer).save_variables({"params": params}, renderer_config)
    with pytest.raises(CheckpointMismatchError, match="delete it"):
        latent_extraction.extract_latents(other_renderer, out, ("test",), batch_size=32)

    config = load_config("motion", "tiny")
    config.data.data_dir = small_data_dir
    config.data.latents_dir = out
    config.train.num_steps = 2
    with pytest.raises(FileNotFoundError, match="no latents for record"):  # only 'test' was extracted
        tasks.train(config, str(tmp_path / "motion"))
    latent_extraction.extract_latents(renderer_dir, out, ("train",), batch_size=32)
    state = tasks.train(config, str(tmp_path / "motion"))
    assert int(state.step) == 2
    restored = Workdir(tmp_path / "motion").restore_variables()
    assert jax.tree_util.tree_structure(restored["batch_stats"]) == jax.tree_util.tree_structure(state.batch_stats)

    config.model.latent_dim = 7
    with pytest.raises(ValueError, match="model.latent_dim"):
        tasks.train(config, str(tmp_path / "other"))
