"""FID: `score`'s FID Inception features (uint8 frames, our converter and Flax model) against
pytorch-fid's InceptionV3 with the same random weights, the Fréchet distance and its streaming
statistics against pytorch-fid's, the missing-weights error, and `score`'s set-level FID on
real-face clips."""

import json
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import skimage.transform

from diffdub_jax.convert import inception as convert_inception
from diffdub_jax.evaluation import score
from diffdub_jax.metrics import fid
from diffdub_jax.models.inception import resize_to_input
from hdtf_fixtures import talking_video

torch = pytest.importorskip("torch")
pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception")

from pytorch_fid.fid_score import calculate_frechet_distance  # noqa: E402


def _photos(size: int) -> np.ndarray:
    """Two crops of the astronaut at size px, RGB in [0, 1] (what pytorch-fid's loader yields)."""
    photo = skimage.data.astronaut()
    crops = [photo[:400, 60:460], photo[100:300, 150:350]]
    return np.stack([skimage.transform.resize(crop, (size, size), anti_aliasing=True) for crop in crops]
                    ).astype(np.float32)


def _nchw(images: np.ndarray):
    return torch.from_numpy(images).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(pytorch-fid's InceptionV3([3]) with random weights, those weights saved as a .pth in the
    layout of pt_inception-2015-12-05-6726825d.pth). Nothing is downloaded: fid_inception_v3
    builds torchvision's net, swaps in the FID blocks, then loads the released state dict, which
    here is the built net's own. Batch norm gets gamma ~ U(0.9, 1.1), beta ~ U(0.5, 1) and the
    running statistics of photos, so features have a real network's scale (~1); with beta ~ 0 a
    random net amplifies float32 rounding ~100x over its 94 layers, and torch alone then differs
    from float64 by 6e-4."""
    built = []
    original = pytorch_fid_inception._inception_v3  # pylint: disable=protected-access

    def record(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pytorch_fid_inception, "_inception_v3", record)
        patch.setattr(pytorch_fid_inception, "load_state_dict_from_url", lambda *_, **__: built[-1].state_dict())
        torch.manual_seed(0)
        model = pytorch_fid_inception.InceptionV3([3])
    norms = [module for module in model.modules() if isinstance(module, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # running statistics = those of the one calibration batch
            norm.weight.uniform_(0.9, 1.1)
            norm.bias.uniform_(0.5, 1.0)
        model.train()
        model(_nchw(_photos(256)))
    model.eval()
    path = tmp_path_factory.mktemp("fid") / convert_inception.INCEPTION_FILE
    torch.save(built[0].state_dict(), path)  # with fc.* and num_batches_tracked, as the release file
    return model, str(path)


@pytest.mark.parametrize("size", [256, 64])
def test_features_match_pytorch_fid(reference, size):
    """score.fid_metric on uint8 frames against pytorch-fid on the same frames as its loader reads
    them (uint8 / 255); both sizes are upsampled to 299 px (downsampling: the resize test below)."""
    model, path = reference
    frames = np.rint(_photos(size) * 255).astype(np.uint8)
    ours = score.fid_metric(path)(frames)
    with torch.no_grad():
        theirs = model(_nchw(frames.astype(np.float32) / 255))[0].reshape(len(frames), -1).numpy()
    assert ours.shape == (2, 2048) and ours.dtype == np.float32
    error = np.abs(ours - theirs).max()
    print(f"FID Inception at {size} px: max abs error {error:.2e} (features up to {np.abs(theirs).max():.2f})")
    assert error < 1e-4


@pytest.mark.parametrize("shape", [(64, 64), (256, 256), (512, 512), (300, 400), (598, 150)])
def test_resize_is_torch_bilinear_without_antialiasing(shape):
    """Up- and downsampling both equal F.interpolate(bilinear, align_corners=False) to rounding."""
    images = np.random.default_rng(0).uniform(0, 1, (1, *shape, 3)).astype(np.float32)
    theirs = torch.nn.functional.interpolate(_nchw(images), size=(299, 299), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(np.asarray(resize_to_input(images)), theirs.permute(0, 2, 3, 1).numpy(), atol=3e-7)


def _features(count: int, dims: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (count, dims)) @ rng.normal(0, 0.3, (dims, dims)) + rng.uniform(0, 1, dims)


@pytest.mark.parametrize("count", [500, 20])  # 20 < 64 dimensions: singular covariances
def test_frechet_distance_and_streaming_statistics_match_pytorch_fid(count):
    first, second = _features(count), _features(count, seed=1) + 0.1
    stats = [fid.FeatureStats(), fid.FeatureStats()]
    for accumulated, features in zip(stats, (first, second)):
        for chunk in np.array_split(features, 3):
            accumulated.add(chunk.astype(np.float32))
        mean, covariance = accumulated.mean_and_covariance()
        batch = features.astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(mean, batch.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(covariance, np.cov(batch, rowvar=False), rtol=1e-9, atol=1e-12)
    moments = [(features.mean(axis=0), np.cov(features, rowvar=False)) for features in (first, second)]
    expected = calculate_frechet_distance(*moments[0], *moments[1])
    assert fid.frechet_distance(*moments[0], *moments[1]) == pytest.approx(expected, rel=1e-4)
    assert fid.fid(*stats) == pytest.approx(expected, rel=1e-4)


def test_a_set_against_itself_is_zero():
    stats = fid.FeatureStats()
    stats.add(_features(500))
    assert abs(fid.fid(stats, stats)) < 1e-8


def test_a_missing_weights_file_names_the_file_where_to_get_it_and_the_flag(tmp_path):
    missing = tmp_path / "nowhere.pth"
    for load in (convert_inception.load_inception, score.fid_metric):
        with pytest.raises(FileNotFoundError) as error:
            load(str(missing))
        for expected in (str(missing), convert_inception.INCEPTION_FILE, convert_inception.INCEPTION_URL,
                         "--fid_inception"):
            assert expected in str(error.value)


def _colour_grid(frames: np.ndarray) -> np.ndarray:
    """(N, 256, 256, 3) uint8 crops -> (N, 48) mean colours of a 4x4 grid: a stand-in for the
    Inception's 2048 features (the parity tests cover those), whose 2048x2048 sqrtm takes ~20 s on 2 cores."""
    return frames.reshape(len(frames), 4, 64, 4, 64, 3).mean(axis=(2, 4)).reshape(len(frames), -1) / 255


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """reference/clip.mp4, a real face talking, and generated/clip.mp4, the same face moving
    otherwise: 6 frames each."""
    root = tmp_path_factory.mktemp("fid_clips")
    for folder, seed in (("reference", 0), ("generated", 1)):
        (root / folder).mkdir()
        talking_video(str(root / folder / "clip.mp4"), 0.24, 25, (256, 192), face_size=110, motion_seed=seed,
                      audio=False)
    return root


def test_score_reports_one_fid_over_all_frames_and_reuses_cached_features(clips, tmp_path, monkeypatch):
    (tmp_path / "cache").mkdir()
    pairs = score.pair_videos(str(clips / "generated"), str(clips / "reference"))
    scorer = score.Scorer(fid=_colour_grid, batch=8)
    scores = score.score_videos(pairs, scorer, cache_dir=str(tmp_path / "cache"))
    assert scores["fid_frames"] == 6 and "fid" not in scores["clips"]["clip"]
    assert np.isfinite(scores["mean"]["fid"]) and scores["mean"]["fid"] > 0
    lines = score.table(scores).splitlines()
    assert lines[0].endswith(" | fid") and lines[2].endswith(" | -")
    assert lines[-1].endswith(f" | {scores['mean']['fid']:.4f}")

    def rescored(*_):
        raise AssertionError("a cached pair was scored again")

    monkeypatch.setattr(scorer, "score_with_features", rescored)
    again = score.score_videos(pairs, scorer, cache_dir=str(tmp_path / "cache"))
    assert json.dumps(again) == json.dumps(scores)


def test_score_and_evaluate_take_the_weights_file_and_name_a_missing_one(clips, tmp_path):
    missing = f"--fid_inception={tmp_path / convert_inception.INCEPTION_FILE}"
    for command in (["diffdub_jax.score", f"--generated={clips / 'generated'}", f"--reference={clips / 'reference'}",
                     f"--output={tmp_path / 'metrics.json'}"],
                    ["diffdub_jax.evaluate", "--config=configs/renderer.py", f"--workdir={tmp_path / 'renderer'}",
                     f"--motion_workdir={tmp_path / 'motion'}", f"--output={tmp_path / 'eval'}"]):
        done = subprocess.run([sys.executable, "-m", *command, missing], capture_output=True, text=True, check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
        for expected in (str(tmp_path / convert_inception.INCEPTION_FILE), convert_inception.INCEPTION_URL,
                         "--fid_inception"):
            assert expected in done.stderr
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "eval").exists()
