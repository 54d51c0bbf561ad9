"""PSNR, SSIM and LMD against scikit-image and the formula."""

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from diffdub_jax.metrics import image, landmarks


@pytest.fixture(scope="module")
def frames():
    """Astronaut crops and degraded copies: noise, blur-like shift, a brighter lower half."""
    rng = np.random.default_rng(0)
    photo = data.astronaut()
    reference = np.stack([photo[i * 40:i * 40 + 96, 150 + i * 10:246 + i * 10] for i in range(4)])
    generated = reference.astype(np.float64)
    generated[0] += rng.normal(0, 12, generated[0].shape)
    generated[1] = np.roll(generated[1], 2, axis=1)
    generated[2, 48:] *= 1.3
    generated[3] = rng.integers(0, 256, generated[3].shape)
    return np.clip(np.rint(generated), 0, 255).astype(np.uint8), reference


def test_psnr_is_scikit_images(frames):
    generated, reference = frames
    expected = [peak_signal_noise_ratio(r, g, data_range=255) for g, r in zip(generated, reference)]
    np.testing.assert_array_equal(image.psnr(generated, reference), expected)
    assert image.psnr(reference, reference)[0] == np.inf


def test_ssim_matches_scikit_image_within_1e4(frames):
    generated, reference = frames
    expected = [structural_similarity(g, r, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=255)
                for g, r in zip(generated, reference)]
    np.testing.assert_allclose(image.ssim(generated, reference), expected, atol=1e-4)
    # The masked SSIM is the mean of scikit-image's full SSIM map over the masked window centres.
    mask = np.zeros(generated.shape[:3], bool)
    mask[:, 50:80, 20:70] = True
    whole, masked = image.ssim(generated, reference, mask)
    np.testing.assert_allclose(whole, expected, atol=1e-4)
    for g, r, m, value in zip(generated, reference, mask, masked):
        _, full = structural_similarity(g, r, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=255, full=True)
        assert abs(full[m].mean() - value) < 1e-4


def test_lmd_is_zero_on_itself_and_grows_with_a_known_shift():
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 512, (10, 68, 2))
    assert (landmarks.mouth_landmark_distance(points, points, 512) == 0).all()
    moved = points.copy()
    moved[:, 48:68] += [3.0, 4.0]  # 5 px in a 512 px crop = 2.5 px at 256
    np.testing.assert_allclose(landmarks.mouth_landmark_distance(moved, points, 512), 2.5)
    moved[:, :48] += 100.0  # the rest of the face does not count
    np.testing.assert_allclose(landmarks.mouth_landmark_distance(moved, points, 512), 2.5)
