"""LPIPS v0.1: parity with the lpips package (random torchvision trunks, its shipped heads) on noise
and photo pairs, both trunk file layouts, and the missing-trunk error."""

import jax
import numpy as np
import pytest
import scipy.ndimage
import skimage.data
import skimage.transform

torch = pytest.importorskip("torch")

lpips = pytest.importorskip("lpips")

from diffdub_jax.convert import lpips as convert_lpips  # noqa: E402


@pytest.fixture(scope="module")
def models(request, tmp_path_factory):
    """(net, lpips' module, its trunk saved in torchvision's checkpoint layout, our (model, params)
    read from that file and the package's v0.1 heads). The trunk is torchvision's random init:
    pnet_rand has lpips build it with weights=None, so nothing is downloaded."""
    net = request.param
    torch.manual_seed(0)
    reference = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
    # net.slice<k>.<i>.* holds torchvision's features.<i>.*; a torchvision file also has the
    # classifier, which LPIPS does not use (one key of it stands for all).
    backbone = {"features." + name.split(".", 1)[1]: tensor for name, tensor in reference.net.state_dict().items()}
    backbone["classifier.6.bias"] = torch.zeros(1000)
    path = tmp_path_factory.mktemp(net) / f"{net}_torchvision.pth"
    torch.save(backbone, path)
    return net, reference, str(path), convert_lpips.load_lpips(net, str(path))


def _distances(reference, images0: np.ndarray, images1: np.ndarray) -> np.ndarray:
    """lpips' (N,) distances of NHWC batches (it takes NCHW tensors, [-1, 1] as normalize=False)."""
    with torch.no_grad():
        nchw = [torch.from_numpy(images).permute(0, 3, 1, 2) for images in (images0, images1)]
        return reference(*nchw).numpy().reshape(-1)


def _photo_pairs(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut at `size` px against itself shifted by size/16, blurred, noisy, and unchanged."""
    shift = size // 16
    photo = skimage.transform.resize(skimage.data.astronaut(), (size + shift, size + shift), anti_aliasing=True)
    photo = (photo * 2 - 1).astype(np.float32)
    image = photo[:size, :size]
    shifted = photo[shift:, shift:]
    blurred = scipy.ndimage.gaussian_filter(image, sigma=(size / 64, size / 64, 0))
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 0.1, image.shape), -1, 1)
    others = np.stack([shifted, blurred, noisy, image]).astype(np.float32)
    return np.stack([image] * 4), others


def _pairs(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Two pairs of uniform noise, then the photo pairs (the last one an image and itself)."""
    noise0, noise1 = np.random.default_rng(size).uniform(-1, 1, (2, 2, size, size, 3)).astype(np.float32)
    photos0, photos1 = _photo_pairs(size)
    return np.concatenate([noise0, photos0]), np.concatenate([noise1, photos1])


@pytest.mark.parametrize("models,size", [("alex", 64), ("alex", 256), ("vgg", 32), ("vgg", 64)],
                         indirect=["models"], scope="module")  # vgg is slow on CPU: smaller images
def test_matches_lpips_package(models, size):
    _, reference, _, (model, params) = models
    images0, images1 = _pairs(size)
    ours = np.asarray(jax.jit(model.apply)({"params": params}, images0, images1))
    theirs = _distances(reference, images0, images1)
    assert ours.shape == (len(images0),) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert abs(ours[-1]) < 1e-6, "an image's distance to itself"


@pytest.mark.parametrize("models", ["alex", "vgg"], indirect=True, scope="module")
def test_a_whole_lpips_state_dict_brings_trunk_and_heads(models, tmp_path):
    net, reference, _, (_, from_torchvision) = models
    path = tmp_path / "lpips.pth"
    torch.save(reference.state_dict(), path)
    _, from_lpips = convert_lpips.load_lpips(net, str(path))
    jax.tree.map(np.testing.assert_array_equal, from_lpips, from_torchvision)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_a_missing_backbone_names_the_file_and_where_to_get_it(net, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # torchvision's cache, where no path looks: empty
    url = convert_lpips.BACKBONE_URLS[net]
    cached = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    for given, looked_at in ((str(tmp_path / "nowhere.pth"), tmp_path / "nowhere.pth"), (None, cached)):
        with pytest.raises(FileNotFoundError) as error:
            convert_lpips.load_lpips(net, given)
        for expected in (str(looked_at), url, "--lpips_backbone"):
            assert expected in str(error.value)


@pytest.mark.parametrize("models", ["alex"], indirect=True)
def test_score_reads_the_backbone_file_into_the_same_distances(models):
    """`score --lpips_backbone=FILE` goes through evaluation.score.lpips_metric on uint8 frames."""
    from diffdub_jax.evaluation import score  # pylint: disable=import-outside-toplevel

    net, reference, path, _ = models
    images0, images1 = _photo_pairs(64)
    as_uint8 = [np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8) for images in (images0, images1)]
    expected = _distances(reference, *[(images.astype(np.float32) / 127.5 - 1) for images in as_uint8])
    np.testing.assert_allclose(score.lpips_metric(path, net)(*as_uint8), expected, rtol=1e-4, atol=1e-6)
