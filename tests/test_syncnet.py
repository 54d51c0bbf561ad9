"""SyncNet LSE-D / LSE-C: our Flax port and metric against syncnet_python's own network and
`evaluate` (the `syncnet-python` PyPI package, a packaging of joonson/syncnet_python), with
seeded random weights written as a `syncnet_v2.model` state dict."""

import importlib.util
import os
import subprocess
import types

import cv2
import numpy as np
import pytest
import skimage.data
from scipy import signal
from scipy.io import wavfile

torch = pytest.importorskip("torch")
if importlib.util.find_spec("syncnet_python") is None:
    pytest.skip("the reference needs syncnet-python: pip install --no-deps syncnet-python==0.2.3",
                allow_module_level=True)

from diffdub_jax.convert import syncnet as convert_syncnet  # noqa: E402
from diffdub_jax.metrics import syncnet as sync_metric  # noqa: E402

FRAMES, CROP = 40, 160  # 1.6 s at 25 fps of 160x160 face crops (the metric resizes them to 224)
SAMPLES = FRAMES * 640


def _reference_module(name: str) -> types.ModuleType:
    """One module file of the syncnet_python package, loaded alone: the package's __init__ pulls in
    its face-detection pipeline (scenedetect, ffmpeg-python, torchvision), which scoring needs not."""
    root = importlib.util.find_spec("syncnet_python").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location(f"syncnet_reference_{name}", os.path.join(root, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _clip(directory: str) -> None:
    """The astronaut's face drifting across a 160x160 crop as JPEG frames, and as long a stretch of
    espeak-ng speech as 16 kHz int16 audio.wav: what the reference's evaluate reads from its tmp_dir."""
    image = skimage.data.astronaut()[..., ::-1]
    for index in range(FRAMES):
        top, left = 20 + round(6 * np.sin(index / 4)), 150 + index % 7
        crop = cv2.resize(image[top:top + 200, left:left + 200], (CROP, CROP), interpolation=cv2.INTER_AREA)
        cv2.imwrite(os.path.join(directory, f"{index + 1:06d}.jpg"), crop)
    speech = os.path.join(directory, "speech.wav")
    subprocess.run(["espeak-ng", "-w", speech, "the quick brown fox jumps over the lazy dog"], check=True)
    rate, waveform = wavfile.read(speech)
    waveform = signal.resample_poly(waveform.astype(np.float64), 16000, rate)
    waveform = np.pad(waveform, (0, max(0, SAMPLES - len(waveform))))[:SAMPLES]
    wavfile.write(os.path.join(directory, "audio.wav"), 16000, np.round(waveform).astype(np.int16))
    os.remove(speech)


def _decoded(clip: str) -> tuple[np.ndarray, np.ndarray]:
    """The clip as the reference network sees it: (T, 224, 224, 3) uint8 BGR frames and (M, 13) MFCCs."""
    names = sorted(f for f in os.listdir(clip) if f.endswith(".jpg"))
    frames = np.stack([cv2.resize(cv2.imread(os.path.join(clip, name)), (224, 224)) for name in names])
    return frames, sync_metric.mfcc(wavfile.read(os.path.join(clip, "audio.wav"))[1] / 32768.0)


def _windows(frames: np.ndarray, mfcc: np.ndarray, starts) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference network's inputs for the windows starting at those frames: lips
    (N, 3, 5, 224, 224) and MFCCs (N, 1, 13, 20)."""
    lips = np.stack([frames[i:i + 5] for i in starts]).astype(np.float32)
    audio = np.stack([mfcc[4 * i:4 * i + 20].T for i in starts])
    return torch.from_numpy(lips).permute(0, 4, 1, 2, 3), torch.from_numpy(audio)[:, None]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(torch S in eval mode, path of its state dict, clip folder). Batch-norm statistics are those of
    the clip's own windows, so embeddings have the scale they have with the real weights."""
    clip = str(tmp_path_factory.mktemp("clip"))
    _clip(clip)
    torch.manual_seed(0)
    net = _reference_module("SyncNetModel").S()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.momentum = None  # a cumulative average over the calibration batch
        lips, audio = _windows(*_decoded(clip), range(0, FRAMES - 5, 4))
        net.train()
        net.forward_lip(lips)
        net.forward_aud(audio)
    net.eval()
    weights = str(tmp_path_factory.mktemp("weights") / "syncnet_v2.model")
    torch.save(net.state_dict(), weights)
    return net, weights, clip


def test_embeddings_match_the_reference_network(reference):
    """Through the metric's batched windowing, with the batch size test_scores_... compiles too."""
    net, weights, clip = reference
    model, params = convert_syncnet.load_syncnet(weights)
    frames, mfcc = _decoded(clip)
    lips, audio = sync_metric.embeddings(frames, mfcc, 12, model, params, batch_size=12)
    with torch.no_grad():
        want_lips, want_audio = (tower(x).numpy() for tower, x in
                                 zip((net.forward_lip, net.forward_aud), _windows(frames, mfcc, range(12))))
    assert np.abs(want_lips).max() > 0.1 and np.abs(want_audio).max() > 0.1  # not a degenerate comparison
    np.testing.assert_allclose(lips, want_lips, rtol=0, atol=1e-4)
    np.testing.assert_allclose(audio, want_audio, rtol=0, atol=1e-4)


def test_scores_match_the_reference_evaluate(reference, monkeypatch):
    """Wav2Lip's evaluate is syncnet_python's plus one line, every frame resized to 224x224 after
    cv2.imread; the packaged evaluate gets it through the cv2 it sees."""
    net, weights, clip = reference
    instance_module = _reference_module("SyncNetInstance")
    monkeypatch.setattr(instance_module, "cv2", types.SimpleNamespace(
        imread=lambda name: cv2.resize(cv2.imread(name), (224, 224))))
    options = types.SimpleNamespace(tmp_dir=clip, batch_size=20, vshift=15)
    offset, confidence, min_distance = instance_module.SyncNetInstance(net, device="cpu").evaluate(options)

    names = sorted(f for f in os.listdir(clip) if f.endswith(".jpg"))
    frames = np.stack([cv2.imread(os.path.join(clip, name))[..., ::-1] for name in names])
    assert frames.shape == (FRAMES, CROP, CROP, 3)
    waveform = wavfile.read(os.path.join(clip, "audio.wav"))[1] / 32768.0
    model, params = convert_syncnet.load_syncnet(weights)
    scores = sync_metric.sync_scores(frames, waveform, model, params, batch_size=12)  # the last batch padded
    assert scores["offset"] == offset
    assert abs(scores["lse_d"] - min_distance) <= 1e-3, (scores, min_distance)
    assert abs(scores["lse_c"] - confidence) <= 1e-3, (scores, confidence)


def test_missing_weights_name_the_file_and_where_to_get_it(tmp_path):
    path = str(tmp_path / "syncnet_v2.model")
    with pytest.raises(FileNotFoundError) as error:
        convert_syncnet.load_syncnet(path)
    assert path in str(error.value) and convert_syncnet.SYNCNET_URL in str(error.value)
    assert "--syncnet" in str(error.value)


@pytest.mark.slow
def test_score_reads_the_weights_file_into_the_same_scores(reference):
    """`score --syncnet=FILE` goes through evaluation.score.sync_metric: the same numbers as above."""
    from diffdub_jax.evaluation import score  # pylint: disable=import-outside-toplevel

    _, weights, clip = reference
    names = sorted(f for f in os.listdir(clip) if f.endswith(".jpg"))
    frames = np.stack([cv2.imread(os.path.join(clip, name))[..., ::-1] for name in names])
    waveform = wavfile.read(os.path.join(clip, "audio.wav"))[1] / 32768.0
    model, params = convert_syncnet.load_syncnet(weights)
    assert score.sync_metric(weights)(frames, waveform) == sync_metric.sync_scores(frames, waveform, model, params)
