"""Stage-1 model: official-key conversion, masked rendering, DDIM with an exact oracle."""

import ast
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffdub_jax.convert import renderer as convert_renderer
from diffdub_jax.convert import torch_state
from diffdub_jax.diffusion import ddim, losses
from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.models import renderer as renderer_model
from diffdub_jax.models.renderer import renderer_from_config
from diffdub_jax.serving.renderer_service import COMPUTE_DTYPES, RendererService, RenderOptions, render
from diffdub_jax.training import loop
from diffdub_jax.workdir import Workdir
from renderer_fixtures import init, official_small_renderer, random_batch, randomise, tiny_config

KEYS = os.path.join(os.path.dirname(__file__), "data", "official_renderer_small_keys.txt")


def _official_state_dict(seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    with open(KEYS, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            name, shape = line.split(" ", 1)
            out[name] = rng.standard_normal(ast.literal_eval(shape)).astype(np.float32)
    return out


def test_converter_fills_every_parameter_from_official_keys():
    model = official_small_renderer()
    template = jax.eval_shape(lambda: init(model))
    state_dict = _official_state_dict()
    params = torch_state.convert_state_dict(state_dict, template, {"encoder": "encoder.", "unet": ""})
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(template)
    count = sum(x.size for x in jax.tree_util.tree_leaves(params))
    assert count == sum(v.size for v in state_dict.values()) == 1_998_403
    conv = state_dict["input_blocks.0.0.weight"]  # (O, I, kh, kw)
    np.testing.assert_array_equal(params["unet"]["input_blocks_0_0"]["kernel"], conv.transpose(2, 3, 1, 0))
    qkv = state_dict["encoder.middle_block.1.qkv.weight"]  # conv1d (O, I, 1)
    np.testing.assert_array_equal(params["encoder"]["middle_block_1"]["qkv"]["kernel"], qkv[..., 0].T)
    dense = state_dict["input_blocks.1.0.emb_layers.1.weight"]
    np.testing.assert_array_equal(params["unet"]["input_blocks_1_0"]["emb_layers_1"]["kernel"], dense.T)
    np.testing.assert_array_equal(params["unet"]["out_0"]["scale"], state_dict["out.0.weight"])
    # The converted weights run.
    batch = random_batch(32, 2)
    eps = model.apply({"params": params}, batch["image"], batch["reference"], jnp.array([3, 900]),
                      batch["encoder_crop"])
    assert eps.shape == (2, 32, 32, 3) and bool(jnp.isfinite(eps).all())


def test_converter_refuses_a_checkpoint_of_another_config():
    state_dict = _official_state_dict()
    del state_dict["out.2.bias"]
    state_dict["extra.weight"] = np.zeros(3, np.float32)
    template = jax.eval_shape(lambda: init(official_small_renderer()))
    with pytest.raises(ValueError, match="1 parameters missing.*unet/out_2/bias.*1 checkpoint keys unused"):
        torch_state.convert_state_dict(state_dict, template, {"encoder": "encoder.", "unet": ""})
    state_dict = _official_state_dict()
    state_dict["out.2.weight"] = np.zeros((3, 64, 3, 3), np.float32)
    with pytest.raises(ValueError, match="out.2.weight: shape"):
        torch_state.convert_state_dict(state_dict, template, {"encoder": "encoder.", "unet": ""})


@pytest.mark.parametrize("shape", [(2, 8, 8, 64), (2, 16, 48)])
def test_group_norm_matches_flax_group_norm(shape):
    """The channel-minor GroupNorm is a faster layout of flax's: same parameters, same outputs."""
    import flax.linen as nn  # pylint: disable=import-outside-toplevel

    from diffdub_jax.models.layers import GroupNorm  # pylint: disable=import-outside-toplevel

    x = 3.0 * jax.random.normal(jax.random.key(0), shape) + 1.0
    reference = nn.GroupNorm(num_groups=16, epsilon=1e-5, use_fast_variance=False)
    params = randomise(reference.init(jax.random.key(1), x), seed=2)
    ours = GroupNorm(num_groups=16)
    assert jax.tree.structure(ours.init(jax.random.key(1), x)) == jax.tree.structure(params)
    np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)


def test_ddim_timesteps_follow_the_release():
    np.testing.assert_array_equal(ddim.ddim_timesteps(1000, 20), np.arange(0, 1000, 50))
    np.testing.assert_array_equal(ddim.ddim_timesteps(1000, 3), [0, 334, 668])
    assert len(ddim.ddim_timesteps(1000, 1000)) == 1000
    with pytest.raises(ValueError, match="cannot space"):
        ddim.ddim_timesteps(1000, 999)


def _believing(schedule: Schedule, image: jnp.ndarray):
    """A denoiser sure the clean image is `image`: at every (x_t, t) it outputs the schedule's
    target for that image and the noise x_t then implies (a perfect network when image is x0)."""
    alphas = jnp.asarray(schedule.alphas_cumprod, jnp.float32)

    def denoise(x_t, t):
        a = alphas[t][:, None, None, None]
        return schedule.target(image, t, (x_t - jnp.sqrt(a) * image) / jnp.sqrt(1 - a))

    return denoise


@pytest.mark.parametrize("prediction,num_steps", [("epsilon", 20), ("epsilon", 5), ("epsilon", 50), ("x0", 20),
                                                 ("v", 20), ("v", 5)])
def test_ddim_with_an_exact_oracle_returns_x0(prediction, num_steps):
    schedule = Schedule.linear(prediction=prediction)
    batch = random_batch(16, 3, seed=num_steps)
    x0 = jnp.asarray(batch["image"]) * 0.9
    x_T = jax.random.normal(jax.random.key(1), x0.shape)
    out = ddim.ddim_sample(_believing(schedule, x0), schedule, x_T, x0, batch["edit_mask"], num_steps=num_steps)
    np.testing.assert_allclose(out, x0, atol=2e-4)


def test_every_prediction_maps_its_target_back_to_x0_and_an_x0_error_costs_the_same_under_min_snr():
    """min-SNR weights are set per parameterisation so that the objective, measured on x0, is one."""
    batch = random_batch(16, 4)
    x0, mask = jnp.asarray(batch["image"]), jnp.asarray(batch["edit_mask"])
    t = jnp.array([999, 500, 10, 0])
    noise = jax.random.normal(jax.random.key(0), x0.shape)
    error = 0.1 * jax.random.normal(jax.random.key(1), x0.shape)
    rng = jax.random.key(3)
    drawn_t = jax.random.randint(jax.random.split(rng)[0], (4,), 0, 1000)
    costs = []
    for prediction in ("epsilon", "x0", "v"):
        schedule = Schedule.linear(prediction=prediction)
        x_t = schedule.q_sample(x0, t, noise)
        np.testing.assert_allclose(schedule.predicted_x0(schedule.target(x0, t, noise), x_t, t), x0, atol=1e-3)
        off_by_error = _believing(schedule, x0 + error)  # outputs the target of the wrong image
        costs.append(float(losses.masked_denoising_loss(off_by_error, schedule, x0, mask, rng, "min_snr", 1.0)))
    snr = Schedule.linear().snr[np.asarray(drawn_t)]
    expected = jnp.mean(jnp.asarray(np.minimum(snr, 1.0), jnp.float32)[:, None, None, None] * mask * error**2)
    np.testing.assert_allclose(costs, [expected] * 3, rtol=2e-3)
    with pytest.raises(ValueError, match="unknown diffusion prediction"):
        Schedule.linear(prediction="score")


@pytest.mark.slow
@pytest.mark.parametrize("patch_size", [1, 2])
def test_pixels_outside_the_edit_mask_are_bit_identical_after_rendering(patch_size):
    config = tiny_config()
    config.model.patch_size = patch_size
    model = renderer_from_config(config)
    params = randomise(init(model))
    batch = random_batch(32, 3)
    x_T = jax.random.normal(jax.random.key(2), (1, 32, 32, 3))
    out = np.asarray(jax.jit(lambda p: render(p, batch, x_T, model=model, schedule=Schedule.linear(),
                                                             num_steps=2))(params))
    known = batch["edit_mask"][..., 0] < 0.5
    assert np.array_equal(out[known], batch["image"][known])  # bit-identical, not just close
    assert np.abs(out[~known] - batch["image"][~known]).max() > 0.1  # the edit region was redrawn
    # a full-resolution image, not an upscaled half-resolution one: the pixels of a patch differ
    assert np.abs(out[:, 1::2, :] - out[:, ::2, :])[~known[:, ::2]].max() > 0.05


def test_patches_hold_their_own_pixels_and_unfold_back():
    images = np.random.default_rng(0).normal(size=(2, 8, 6, 3)).astype(np.float32)
    patches = np.asarray(renderer_model.space_to_depth(images, 2))
    assert patches.shape == (2, 4, 3, 12)
    np.testing.assert_array_equal(np.sort(patches[1, 2, 1]), np.sort(images[1, 4:6, 2:4].ravel()))
    np.testing.assert_array_equal(renderer_model.depth_to_space(patches, 2), images)
    config = tiny_config()
    config.model.patch_size = 3
    with pytest.raises(ValueError, match="not a multiple of model.patch_size 3"):
        renderer_from_config(config)


def test_a_reference_residual_renderer_draws_the_change_from_the_reference_frame():
    """Its output is the network's plus the reference frame's low pass (tone and light, no mouth): a
    network that outputs nothing (its last layer is zero at initialisation) draws that."""
    config = tiny_config()
    config.diffusion.prediction = "x0"
    config.model.reference_residual = True
    model = renderer_from_config(config)
    params = init(model)
    batch = random_batch(32, 2)
    z_sem = model.apply({"params": params}, batch["encoder_crop"], method=model.encode)
    x_t, t = jnp.zeros((2, 32, 32, 3)), jnp.array([10, 900])
    with_reference = model.apply({"params": params}, x_t, batch["reference"], t, z_sem, method=model.denoise)
    plain = renderer_from_config(tiny_config()).apply({"params": params}, x_t, batch["reference"], t, z_sem,
                                                      method=model.denoise)
    low_pass = renderer_model.low_pass(batch["reference"][..., :3])
    np.testing.assert_allclose(with_reference, plain + low_pass, atol=1e-6)
    # the low pass keeps each 4 x 4 cell's mean (32 px over 8 cells) and loses what varies inside it
    np.testing.assert_allclose(low_pass.mean(axis=(1, 2)), batch["reference"][..., :3].mean(axis=(1, 2)), atol=0.05)
    config.diffusion.prediction = "v"
    with pytest.raises(ValueError, match="needs diffusion.prediction='x0'"):
        renderer_from_config(config)


def test_training_input_keeps_the_known_region_clean_and_loss_is_masked():
    schedule = Schedule.linear()
    batch = random_batch(16, 4)
    x0, mask = jnp.asarray(batch["image"]), jnp.asarray(batch["edit_mask"])
    noise = jax.random.normal(jax.random.key(0), x0.shape)
    x_t = losses.noisy_input(schedule, x0, mask, jnp.array([999, 500, 10, 0]), noise)
    known = np.asarray(mask[..., 0]) < 0.5
    assert np.array_equal(np.asarray(x_t)[known], batch["image"][known])
    rng = jax.random.key(3)
    t_rng, noise_rng = jax.random.split(rng)
    true_noise = jax.random.normal(noise_rng, x0.shape)
    perfect = losses.masked_denoising_loss(lambda x, t: true_noise, schedule, x0, mask, rng)
    zero = losses.masked_denoising_loss(lambda x, t: jnp.zeros_like(x), schedule, x0, mask, rng)
    assert float(perfect) == 0.0
    np.testing.assert_allclose(zero, jnp.mean(mask * true_noise**2), rtol=1e-6)


def test_min_snr_weighting_caps_the_clean_steps_and_keeps_the_noisy_ones():
    schedule = Schedule.linear()
    t = jnp.array([0, 100, 300, 999])
    weights = np.asarray(losses.loss_weights(schedule, t, "min_snr", 5.0))
    alphas_cumprod = schedule.alphas_cumprod[np.asarray(t)]
    snr = alphas_cumprod / (1 - alphas_cumprod)
    np.testing.assert_allclose(weights, np.minimum(snr, 5.0) / snr, rtol=1e-5)
    assert weights[0] < 1e-3 and weights[-1] == 1.0  # t=0: SNR ~ 1e4; t=999: SNR << 5
    batch = random_batch(16, 4)
    x0, mask = jnp.asarray(batch["image"]), jnp.asarray(batch["edit_mask"])
    t_rng, noise_rng = jax.random.split(jax.random.key(3))
    drawn_t = jax.random.randint(t_rng, (4,), 0, 1000)
    noise = jax.random.normal(noise_rng, x0.shape)
    weighted = losses.masked_denoising_loss(lambda x, t: jnp.zeros_like(x), schedule, x0, mask, jax.random.key(3),
                                          weighting="min_snr")
    w = losses.loss_weights(schedule, drawn_t, "min_snr")
    np.testing.assert_allclose(weighted, jnp.mean(w[:, None, None, None] * mask * noise**2), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown loss weighting"):
        losses.loss_weights(schedule, t, "snr")


@pytest.mark.slow
def test_convert_command_turns_a_lightning_checkpoint_into_an_orbax_workdir(tmp_path):
    torch = pytest.importorskip("torch")
    state_dict = _official_state_dict(seed=1)
    lightning = {"ema_model." + k: torch.from_numpy(v) for k, v in state_dict.items()}
    lightning.update({"model." + k: torch.zeros(v.shape) for k, v in state_dict.items()})
    lightning["x_T"] = torch.zeros(2, 3, 32, 32)
    path = tmp_path / "stage1.ckpt"
    torch.save({"state_dict": lightning, "epoch": 3}, path)
    out = tmp_path / "converted"
    result = subprocess.run([sys.executable, "-m", "diffdub_jax.convert", f"--checkpoint={path}",
                             f"--output={out}", "--config=configs/renderer.py:tiny"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    params = Workdir(out).restore_variables()["params"]
    np.testing.assert_array_equal(params["unet"]["input_blocks_0_0"]["kernel"],
                                  state_dict["input_blocks.0.0.weight"].transpose(2, 3, 1, 0))
    # train --config.train.init_from starts from it; a parameter of another shape (here the input
    # conv of a model with two reference frames) keeps its fresh initialisation.
    config = tiny_config()
    config.data.num_references = 2
    started = loop.copy_matching(init(renderer_from_config(config)), params)
    np.testing.assert_array_equal(started["unet"]["out_2"]["kernel"], params["unet"]["out_2"]["kernel"])
    assert started["unet"]["input_blocks_0_0"]["kernel"].shape[2] == 9
    bad = subprocess.run([sys.executable, "-m", "diffdub_jax.convert", f"--checkpoint={path}",
                          f"--output={tmp_path / 'bad'}", "--config=configs/renderer.py:synthetic"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "does not match the model" in bad.stderr
    assert "Traceback" not in bad.stderr


def _diffae_hyper_parameters(image_size, channels, mult, encoder_mult, attention, res_blocks, embed, frames=1):
    """The TrainConfig fields the release's Lightning module saves (save_hyperparameters of
    conf.as_dict_jsonable(): enums dropped, the model config nested), for one architecture."""
    return {"img_size": image_size, "net_ch": channels, "net_ch_mult": mult, "net_enc_channel_mult": encoder_mult,
            "net_attn": attention, "net_enc_attn": None, "net_num_res_blocks": res_blocks,
            "net_num_input_res_blocks": None, "net_enc_num_res_blocks": res_blocks,
            "net_beatgans_embed_channels": embed, "style_ch": embed, "net_beatgans_attn_head": 1,
            "net_beatgans_resnet_two_cond": True, "net_resblock_updown": True, "dropout": 0.1, "T": 1000,
            "T_eval": 20, "beta_scheduler": "linear", "diffusion_type": "beatgans", "batch_size": 32, "fp16": True,
            "N_frames": frames, "cond_with_eye": True, "pretrain": "assets/checkpoints/diffae_ffhq_last.ckpt",
            "model_conf": {"image_size": image_size, "model_channels": channels, "channel_mult": mult,
                           "enc_channel_mult": encoder_mult, "embed_channels": embed, "num_res_blocks": res_blocks}}


def _save_lightning(path, state_dict, hyper_parameters):
    torch = pytest.importorskip("torch")
    weights = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state_dict.items()}
    lightning = {"ema_model." + k: v for k, v in weights.items()}
    lightning.update({"model." + k: torch.zeros(v.shape) for k, v in weights.items()})
    checkpoint = {"state_dict": lightning, "epoch": 3, "pytorch-lightning_version": "1.4.5"}
    if hyper_parameters is not None:
        checkpoint["hyper_parameters"] = hyper_parameters
    torch.save(checkpoint, path)


def _state_dict_for(config, seed=0):
    """Random tensors for every parameter of the architecture `config` describes, with the
    release's names and torch layouts (for the tiny config these are exactly the small keys file's)."""
    model = renderer_from_config(config)
    template = jax.eval_shape(lambda: init(model))
    rng = np.random.default_rng(seed)
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
        names = [entry.key for entry in path]
        scope, *modules, name = names
        value = rng.standard_normal(leaf.shape).astype(np.float32)
        if name == "kernel":
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        module = re.sub(r"_(\d+)", r".\1", ".".join(modules)).replace("time_embed_time_embed", "time_embed.time_embed")
        key = module + "." + torch_state.LEAF_NAMES.get(name, name)
        out[("encoder." if scope == "encoder" else "") + key] = value
    return out


@pytest.mark.slow
def test_convert_reads_the_architecture_the_checkpoint_describes(tmp_path):
    pytest.importorskip("torch")
    # The release's key layout (the small keys file) with its hyper_parameters, by the README's one line.
    small = tmp_path / "small.ckpt"
    _save_lightning(small, _official_state_dict(seed=3), _diffae_hyper_parameters(32, 32, (1, 2), (1, 2, 2), (16,), 1, 512))
    result = subprocess.run([sys.executable, "-m", "diffdub_jax.convert", f"--checkpoint={small}",
                             f"--output={tmp_path / 'small'}"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "renderer checkpoint (512-d latents, 32 px)" in result.stdout
    assert len((result.stdout + result.stderr).splitlines()) <= 3, result.stdout + result.stderr  # no library INFO
    config = Workdir(tmp_path / "small").restore_config()
    assert (config.data.image_size, config.model.channels, tuple(config.model.channel_mult)) == (32, 32, (1, 2))
    assert tuple(config.model.encoder_channel_mult) == (1, 2, 2) and config.model.num_res_blocks == 1

    # Another architecture (64 px, three levels, two res blocks, 128-d codes), named as the release
    # names its modules: the names made for the tiny config are exactly the small keys file's.
    assert _state_dict_for(tiny_config()).keys() == _official_state_dict().keys()
    other = tiny_config()
    other.data.image_size, other.model.channels, other.model.embed_channels = 64, 16, 128
    other.model.channel_mult, other.model.encoder_channel_mult, other.model.num_res_blocks = (1, 2, 4), (1, 2, 4, 4), 2
    state_dict = _state_dict_for(other)
    path = tmp_path / "other.ckpt"
    _save_lightning(path, state_dict, _diffae_hyper_parameters(64, 16, (1, 2, 4), (1, 2, 4, 4), (16,), 2, 128))
    config = convert_renderer.convert_renderer_checkpoint(str(path), str(tmp_path / "other"))
    assert (config.data.image_size, config.model.channels, config.model.embed_channels) == (64, 16, 128)
    params = Workdir(tmp_path / "other").restore_variables()["params"]
    assert sum(x.size for x in jax.tree_util.tree_leaves(params)) == sum(v.size for v in state_dict.values())
    np.testing.assert_array_equal(params["unet"]["input_blocks_0_0"]["kernel"],
                                  state_dict["input_blocks.0.0.weight"].transpose(2, 3, 1, 0))

    # Without its description the release's architecture is assumed, and the message says what to pass.
    bare = tmp_path / "bare.ckpt"
    _save_lightning(bare, state_dict, None)
    with pytest.raises(ValueError, match="pass --config .*model.channel_mult.*data.image_size"):
        convert_renderer.convert_renderer_checkpoint(str(bare), str(tmp_path / "bare"))
    # A description the tensors contradict, or one this port cannot build, is named.
    wrong = _diffae_hyper_parameters(64, 32, (1, 2, 4), (1, 2, 4, 4), (16,), 2, 128)
    _save_lightning(bare, state_dict, wrong)
    with pytest.raises(ValueError, match="hyper_parameters net_ch=32 but the tensors have 16"):
        convert_renderer.convert_renderer_checkpoint(str(bare), str(tmp_path / "wrong"))
    wrong = dict(wrong, net_ch=16, beta_scheduler="cosine")
    _save_lightning(bare, state_dict, wrong)
    with pytest.raises(ValueError, match="beta_scheduler='cosine': only"):
        convert_renderer.convert_renderer_checkpoint(str(bare), str(tmp_path / "cosine"))


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_dpm_solver_recovers_a_believed_image_and_keeps_the_known_region(prediction):
    schedule = Schedule.linear(prediction=prediction)
    batch = random_batch(16, 2)
    x0, mask = jnp.asarray(batch["image"]), jnp.asarray(batch["edit_mask"])
    x_T = jax.random.normal(jax.random.key(1), x0.shape)
    known = jnp.asarray(random_batch(16, 2, seed=5)["image"])  # another image: only its outside is used
    out = np.asarray(ddim.dpm_solver_sample(_believing(schedule, x0), schedule, x_T, known, mask, num_steps=5))
    inside = np.asarray(mask[..., 0]) > 0.5
    np.testing.assert_allclose(out[inside], np.asarray(x0)[inside], atol=2e-4)
    assert np.array_equal(out[~inside], np.asarray(known)[~inside])


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_dpm_solver_follows_the_sampling_ode_at_least_as_closely_as_ddim_without_overshooting(prediction):
    """With a denoiser whose clean-image guess moves with x_t, the 1000-step DDIM trajectory is the
    ODE's solution; the solver lands no farther from it than DDIM with the same steps. Its second-
    order steps never extrapolate x0 by more than the last difference (1 / 2r <= 1): the step to
    t = 0, several times its predecessor in log-SNR, would extrapolate 2.4x and, on a trained
    renderer, overshoot into grain (sharpness 1.4-1.8x the true frames', PSNR 2 dB below DDIM)."""
    schedule = Schedule.linear(prediction=prediction)
    image = jnp.asarray(random_batch(8, 2)["image"])
    alphas = jnp.asarray(schedule.alphas_cumprod, jnp.float32)

    def denoise(x_t, t):
        a = alphas[t][:, None, None, None]
        x0 = 0.7 * image + 0.3 * jnp.tanh(2 * x_t)
        return schedule.target(x0, t, (x_t - jnp.sqrt(a) * x0) / jnp.sqrt(1 - a))

    mask, x_T = jnp.ones(image.shape[:-1] + (1,)), jax.random.normal(jax.random.key(0), image.shape)
    solution = ddim.ddim_sample(denoise, schedule, x_T, image, mask, num_steps=1000)
    for steps in (5, 10, 20, 50):
        ddim_error = float(jnp.abs(ddim.ddim_sample(denoise, schedule, x_T, image, mask, num_steps=steps) - solution).mean())
        solver_error = float(jnp.abs(ddim.dpm_solver_sample(denoise, schedule, x_T, image, mask, num_steps=steps)
                                     - solution).mean())
        assert solver_error < ddim_error, (steps, solver_error, ddim_error)
        assert 0 < ddim._solver_coefficients(schedule, steps)["half_inverse_ratio"].max() <= 1.0


def test_bfloat16_and_the_few_step_sampler_keep_the_known_region_and_approximate_float32():
    """RenderOptions, as `infer --compute_dtype --sampler --sample_steps` passes them: the checkpoint's
    config is left alone, bfloat16 renders keep the known region bit for bit and stay near float32."""
    config = tiny_config()
    params = randomise(init(official_small_renderer()))
    batch = random_batch(32, 3)
    z_sem = np.random.default_rng(0).normal(size=(3, config.model.embed_channels)).astype(np.float32)
    renders = {}
    for dtype in COMPUTE_DTYPES:
        options = RenderOptions(dtype, "dpm_solver_2m", 5)
        service = RendererService(options.applied_to(config), params, batch_size=4)
        assert (service.sampler, service.num_steps, service.model.unet.dtype) == ("dpm_solver_2m", 5, jnp.dtype(dtype))
        renders[dtype] = service.render(batch["image"], batch["reference"], batch["edit_mask"], service.noise(0),
                                        z_sem=z_sem)
    assert (config.model.compute_dtype, config.diffusion.sampler, config.diffusion.sample_steps) == ("float32", "ddim", 4)
    known = batch["edit_mask"][..., 0] < 0.5
    for out in renders.values():
        assert np.array_equal(out[known], batch["image"][known])
    difference = renders["bfloat16"] - renders["float32"]
    assert 0 < np.abs(difference).mean() < 0.05, np.abs(difference).mean()  # rounding, not another image
    with pytest.raises(ValueError, match="cannot space 1000 timesteps into 37"):
        RenderOptions(num_steps=37).applied_to(config)
