"""HuBERT front end: parity with transformers through our loader, chunking, video alignment, bad input."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import soundfile

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from conftest import load_config  # noqa: E402
from diffdub_jax.convert import hubert as convert_hubert  # noqa: E402
from diffdub_jax.data import audio, datasets  # noqa: E402
from diffdub_jax.serving import audio_frontend as audio_features  # noqa: E402
from diffdub_jax.training import motion as motion_training  # noqa: E402

# Real conv geometry (320-sample hop, 50 Hz) with narrow layers, so alignment is tested at 50 Hz.
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7,
            num_conv_pos_embedding_groups=4)
VARIANTS = {  # hubert-base layout (even pos-conv kernel) and hubert-large layout (odd, to cover both)
    "group_postln": dict(feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False,
                         num_conv_pos_embeddings=8),
    "layer_stableln": dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
                           num_conv_pos_embeddings=7),
}


def _random_torch_hubert(variant: str, seed: int):
    """A HubertModel with every parameter random (weight-norm g and norm scales around 1, not 1)."""
    torch.manual_seed(seed)
    model = transformers.HubertModel(transformers.HubertConfig(**TINY, **VARIANTS[variant])).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            around_one = "original0" in name or ("norm" in name and name.endswith("weight"))
            param.copy_(torch.randn_like(param) * (0.3 if param.ndim > 1 else 0.2) + (1.0 if around_one else 0.0))
    return model


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """{variant: (torch model, safetensors folder, pytorch_model.bin folder with legacy weight_g/v keys)}."""
    out = {}
    for seed, variant in enumerate(VARIANTS):
        model = _random_torch_hubert(variant, seed)
        safetensors_dir = str(tmp_path_factory.mktemp(f"{variant}_safetensors"))
        model.save_pretrained(safetensors_dir)
        bin_dir = str(tmp_path_factory.mktemp(f"{variant}_bin"))
        model.config.save_pretrained(bin_dir)
        legacy = {k.replace("parametrizations.weight.original0", "weight_g")
                   .replace("parametrizations.weight.original1", "weight_v"): v for k, v in model.state_dict().items()}
        assert "encoder.pos_conv_embed.conv.weight_g" in legacy
        torch.save(legacy, os.path.join(bin_dir, "pytorch_model.bin"))
        out[variant] = (model, safetensors_dir, bin_dir)
    return out


def _reference_states(model, waveform: np.ndarray) -> np.ndarray:
    """transformers' hidden states as transformers 4.x returned them (what the authors extracted):
    the last one after the pre-LN encoder's final LayerNorm, i.e. `last_hidden_state`."""
    with torch.no_grad():
        out = model(torch.from_numpy(waveform[None]), output_hidden_states=True)
    return np.stack([h[0].numpy() for h in out.hidden_states[:-1]] + [out.last_hidden_state[0].numpy()])


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (envelope * (np.sin(2 * np.pi * 220 * t) + 0.3 * rng.standard_normal(t.size))).astype(np.float32)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_parity_with_transformers_through_the_loader(folders, variant, weights):
    torch_model, safetensors_dir, bin_dir = folders[variant]
    model, params = convert_hubert.load_hubert(safetensors_dir if weights == "safetensors" else bin_dir)
    waveform = _speechlike(0.6)
    ours = np.asarray(jax.jit(model.apply)({"params": params}, waveform[None]))[:, 0]
    reference = _reference_states(torch_model, waveform)
    assert ours.shape == reference.shape == (3, model.num_frames(len(waveform)), 32)
    assert min(reference.std(axis=(1, 2))) > 0.3 and np.abs(np.diff(reference, axis=0)).max() > 0.3
    errors = np.abs(ours - reference).max(axis=(1, 2))
    print(f"{variant}/{weights}: max abs error per hidden state {errors}")
    assert errors.max() < 1e-4


@pytest.fixture(scope="module")
def large_layout(folders):
    """(torch model, Flax module, params) of the hubert-large layout."""
    torch_model, safetensors_dir, _ = folders["layer_stableln"]
    return (torch_model, *convert_hubert.load_hubert(safetensors_dir))


@pytest.fixture(scope="module")
def extractor(large_layout):
    """Windows of 2 s with 0.5 s context; clips below use its 0.5, 1 and 2 s one-pass sizes."""
    return audio_features.HubertFeatures(*large_layout[1:], chunk_seconds=2.0, context_seconds=0.5)


def test_one_window_matches_the_authors_pipeline(large_layout, extractor):
    """Zero-padded, masked window == transformers' one pass after Wav2Vec2FeatureExtractor."""
    torch_model = large_layout[0]
    waveform = 3.0 * _speechlike(0.45) + 0.2  # 22 frames in a 25-frame window
    normalised = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)(
        waveform, sampling_rate=16000, return_tensors="np").input_values[0]
    reference = _reference_states(torch_model, normalised.astype(np.float32))
    ours = extractor.hidden_states(waveform)
    assert ours.shape == reference.shape
    error = np.abs(ours - reference).max()
    print(f"one padded window vs one pass: {error:.2e}")
    assert error < 1e-3


def test_chunk_stitching_matches_one_pass(large_layout):
    """With attention made position-blind (value projections zeroed), each frame depends on a few
    neighbours only, so stitched windows must equal one pass exactly: a misplaced window fails."""
    _, model, params = large_layout
    local = jax.tree_util.tree_map_with_path(
        lambda path, x: x * 0 if "v_proj" in jax.tree_util.keystr(path) else x, params)
    waveform = _speechlike(1.9, seed=1)
    one_pass = audio_features.HubertFeatures(model, local, chunk_seconds=2.0, context_seconds=0.5)
    chunked = audio_features.HubertFeatures(model, local, chunk_seconds=1.0, context_seconds=0.2)
    expected, got = one_pass.hidden_states(waveform), chunked.hidden_states(waveform)
    assert got.shape == expected.shape == (3, model.num_frames(len(waveform)), 32)
    error = np.abs(got - expected).max()
    print(f"chunked (1 s windows, 0.2 s context) vs one pass, local model: {error:.2e}")
    assert error < 1e-3


@pytest.mark.parametrize("fps", [25.0, 29.97, 30.0])
def test_two_feature_frames_per_video_frame(extractor, fps):
    num_frames = 24
    waveform = _speechlike(num_frames / fps, seed=2)
    states = extractor.hidden_states(waveform, np.float16)
    features = extractor.for_video(waveform, fps, num_frames)
    assert features.shape == (3, 2 * num_frames, 32) and features.dtype == np.float16
    # Each row is some 50 Hz frame; find which, and check it is the one nearest its time.
    distance = np.abs(features[:, :, None].astype(np.float32) - states[:, None].astype(np.float32)).max(axis=(0, 3))
    source = distance.argmin(axis=1)
    assert (distance.min(axis=1) == 0).all()
    times = np.arange(2 * num_frames) / (2 * fps)
    inside = times <= (states.shape[1] - 1) / 50
    assert np.all(np.abs(source[inside] / 50 - times[inside]) <= 0.01 + 1e-9)
    assert np.all(source[~inside] == states.shape[1] - 1)
    if fps == 25.0:  # the authors' recipe: one edge-padded frame
        np.testing.assert_array_equal(features, np.pad(states, ((0, 0), (0, 1), (0, 0)), mode="edge"))


def test_bad_audio_gives_features_or_a_clear_error(extractor, tmp_path):
    cases = {"silent.wav": (np.zeros(16000, np.float32), 16000), "tiny.wav": (_speechlike(0.005), 16000),
             "8k_mono.wav": (_speechlike(1.0)[::2], 8000),
             "48k_stereo.wav": (np.stack([np.repeat(_speechlike(1.0), 3)] * 2, -1), 48000)}
    for name, (samples, rate) in cases.items():
        path = str(tmp_path / name)
        soundfile.write(path, samples, rate)
        features = extractor.for_file(path, 25.0, 25)
        assert features.shape == (3, 50, 32) and np.isfinite(features).all(), name
    empty = str(tmp_path / "empty.wav")
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(audio.AudioError, match="empty.wav"):
        extractor.for_file(empty, 25.0, 25)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(3000))
    with pytest.raises(audio.AudioError, match="corrupt.wav"):
        extractor.for_file(str(corrupt), 25.0, 25)
    with pytest.raises(audio.AudioError, match="nan.wav: expected finite"):
        extractor.for_video(np.full(16000, np.nan, np.float32), 25.0, 25, name="nan.wav")
    with pytest.raises(ValueError, match="fps"):
        extractor.for_video(_speechlike(1.0), 0.0, 25)


def test_missing_or_incomplete_folder_says_what_to_download(folders, tmp_path):
    hint = "huggingface-cli download TencentGameMate/chinese-hubert-large"
    with pytest.raises(convert_hubert.HubertCheckpointError, match="no such HuBERT folder") as error:
        convert_hubert.load_hubert(str(tmp_path / "nowhere"))
    assert hint in str(error.value) and "config.json" in str(error.value)
    config_only = tmp_path / "config_only"
    folders["group_postln"][0].config.save_pretrained(str(config_only))
    with pytest.raises(convert_hubert.HubertCheckpointError, match="model.safetensors or pytorch_model.bin") as error:
        convert_hubert.load_hubert(str(config_only))
    assert hint in str(error.value) and "facebook/hubert-large-ll60k" in str(error.value)
    weights_only = tmp_path / "weights_only"
    weights_only.mkdir()
    os.link(os.path.join(folders["group_postln"][1], "model.safetensors"), weights_only / "model.safetensors")
    with pytest.raises(convert_hubert.HubertCheckpointError, match="missing config.json"):
        convert_hubert.load_hubert(str(weights_only))
    mismatched = tmp_path / "mismatched"  # base-layout config, large-layout weights
    folders["group_postln"][0].config.save_pretrained(str(mismatched))
    os.link(os.path.join(folders["layer_stableln"][1], "model.safetensors"), mismatched / "model.safetensors")
    with pytest.raises(ValueError, match="model.safetensors: .*does not match"):
        convert_hubert.load_hubert(str(mismatched))


@pytest.mark.slow
def test_cli_writes_features_and_reports_errors_cleanly(folders, tmp_path):
    wav = str(tmp_path / "speech.wav")
    soundfile.write(wav, _speechlike(0.8), 16000)
    output = tmp_path / "out" / "feats.npy"
    command = [sys.executable, "-m", "diffdub_jax.extract_audio_features", f"--audio={wav}",
               f"--hubert_dir={folders['layer_stableln'][1]}", "--fps=25", "--num_frames=20", f"--output={output}",
               "--chunk_seconds=2", "--context_seconds=0.5"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    features = np.load(output)
    assert features.shape == (3, 40, 32) and features.dtype == np.float16
    assert os.listdir(output.parent) == ["feats.npy"]
    bad = subprocess.run(command[:3] + [f"--audio={tmp_path / 'missing.wav'}"] + command[4:],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "missing.wav: no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_stage2_training_and_infer_read_the_same_hubert_features(folders, tmp_path, monkeypatch):
    """The stage-2 input stream and `infer` both featurise through AudioFrontend: for one clip's
    audio (as stored in the dataset, and as infer loads it from a file) they give the same features."""
    _, hubert_dir, _ = folders["layer_stableln"]
    config = load_config("motion", "tiny")
    config.audio.frontend, config.audio.hubert_dir = "hubert", hubert_dir
    config.audio.chunk_seconds, config.audio.context_seconds = 2.0, 0.5  # windows get stitched too
    config.model.audio_dim, config.model.audio_layers = 32, 3
    config.data.cache_clips = 0
    num_frames, fps = 75, 25.0
    speech = _speechlike(num_frames / fps, seed=4)
    waveform = np.round(0.3 * speech / np.abs(speech).max() * 32767)
    clip = {"clip_id": b"clip", "identity": 0, "fps": np.float32(fps), "sample_rate": 16000,
            "waveform": waveform.astype(np.int16), "frames": {"image": [b""] * num_frames}}
    monkeypatch.setattr(datasets, "clip_source", lambda name, split, data_dir: [clip])
    batch = next(iter(motion_training.input_stream(config, "train")))

    path = str(tmp_path / "speech.wav")
    soundfile.write(path, clip["waveform"], 16000, subtype="PCM_16")
    inferred = audio_features.AudioFrontend(config.audio).for_video(audio.load_audio(path), audio.SAMPLE_RATE, fps,
                                                                     num_frames, path)
    assert inferred.shape == (3, 2 * num_frames, 32)
    for features, window in zip(batch["audio_features"], batch["frame_index"]):
        start = 2 * int(window[0])
        assert features.shape == (3, 2 * config.data.window_frames, 32)
        np.testing.assert_array_equal(features, inferred[:, start : start + features.shape[1]].astype(np.float32))
