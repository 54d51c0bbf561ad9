"""Encoder-crop augmentations: the release's probabilities and geometry."""

import numpy as np
import pytest

from diffdub_jax.data import augment

OFF = dict(flip_p=0.0, jitter_p=0.0, blur_p=0.0, affine_p=0.0)


def _test_image() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(40, 220, (16, 16, 3), dtype=np.uint8)
    image[:, :4] = (250, 20, 20)  # asymmetric, so a flip is visible
    return image


def test_default_probabilities_match_the_release():
    config = augment.AugmentConfig()
    assert (config.flip_p, config.jitter_p, config.blur_p, config.affine_p) == (0.5, 0.3, 0.1, 0.5)
    assert config.max_rotation_deg == 20 and config.max_scale_change == 0.1
    assert config.shift_range == (0.1, 0.2) and config.max_blur_kernel == 7


@pytest.mark.parametrize("op", ["flip_p", "jitter_p", "blur_p", "affine_p"])
def test_each_augmentation_fires_at_its_probability(op):
    """Only `op` enabled (at its default probability): the fraction of changed crops matches it."""
    probability = getattr(augment.AugmentConfig(), op)
    config = augment.AugmentConfig(**{**OFF, op: probability})
    image = _test_image()
    rng = np.random.default_rng(1)
    trials = 600
    changed = sum(not np.array_equal(augment.augment_encoder_crop(image, rng, config), image)
                  for _ in range(trials))
    tolerance = 4 * np.sqrt(probability * (1 - probability) / trials)
    assert abs(changed / trials - probability) < tolerance


def test_flip_mirrors_the_crop():
    image = _test_image()
    config = augment.AugmentConfig(**{**OFF, "flip_p": 1.0})
    np.testing.assert_array_equal(augment.augment_encoder_crop(image, np.random.default_rng(0), config),
                                  image[:, ::-1])


def test_shift_moves_content_and_fills_black():
    image = np.zeros((8, 8, 3), np.uint8)
    image[2:4, 2:4] = 200
    out = augment.shift_scale_rotate(image.astype(float), 0.0, 1.0, (0.25, 0.125))
    np.testing.assert_allclose(out[3:5, 4:6], 200, atol=1e-6)  # moved 2 right, 1 down
    assert out[:, :2].max() == 0  # uncovered border is black


def test_same_seed_same_augmentation():
    image = _test_image()
    a = augment.augment_encoder_crop(image, np.random.default_rng(7))
    b = augment.augment_encoder_crop(image, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape == image.shape
