"""Mask geometry against polygons computed by hand."""

import numpy as np
import pytest

from diffdub_jax.data import masks


def _landmarks(points: dict) -> np.ndarray:
    lm = np.full((68, 2), 30.0)
    for index, xy in points.items():
        lm[index] = xy
    return lm


def _hand_dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Square dilation by brute force over offsets (independent of scipy)."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    for y, x in zip(*np.nonzero(mask)):
        out[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = True
    return out


def _hand_pentagon(size, left, right, top, shoulder, chin) -> np.ndarray:
    """Rectangle [left, right] x [top, shoulder] over a 45-degree V down to (centre, chin)."""
    ys, xs = np.mgrid[0:size, 0:size]
    rectangle = (xs >= left) & (xs <= right) & (ys >= top) & (ys <= shoulder)
    v = (ys > shoulder) & (ys <= chin) & (xs >= left + (ys - shoulder)) & (xs <= right - (ys - shoulder))
    return rectangle | v


@pytest.mark.parametrize(
    "resolution, jaw6, jaw10, chin8, nose30, brow21, radius",
    [
        # 256 px: chin margin 5 px, dilation radius 8 (5x5 kernel, 4 iterations).
        (256, (100, 160), (140, 160), (120, 175), (120, 120), (118, 70), 8),
        # 64 px: margin 5 * 64 / 256 = 1.25 px, radius 2.
        (64, (16, 30), (40, 30), (28, 40.75), (28, 10), (27, 4), 2),
    ],
)
def test_masks_equal_hand_computed_polygons(resolution, jaw6, jaw10, chin8, nose30, brow21, radius):
    lm = _landmarks({6: jaw6, 10: jaw10, 8: chin8, 30: nose30, 21: brow21})
    chin = round(chin8[1] + 5 * resolution / 256)
    assert (jaw10[0] - jaw6[0]) / 2 == chin - jaw6[1]  # the V edges are at 45 degrees
    expected_edit = _hand_dilate(
        _hand_pentagon(resolution, jaw6[0], jaw10[0], nose30[1], jaw6[1], chin), radius)
    expected_eyes = _hand_dilate(
        _hand_pentagon(resolution, jaw6[0], jaw10[0], brow21[1], jaw6[1], chin), radius)
    np.testing.assert_array_equal(masks.edit_mask(lm, resolution), expected_edit)
    np.testing.assert_array_equal(masks.eye_guided_mask(lm, resolution), expected_eyes)


def test_edit_mask_scales_consistently_across_resolutions():
    rng = np.random.default_rng(0)
    lm256 = _landmarks({6: (90, 170), 10: (166, 168), 8: (128, 205), 30: (128, 130), 21: (115, 80)})
    lm256 += rng.uniform(-2, 2, lm256.shape)
    big = masks.edit_mask(lm256, 256)
    small = masks.edit_mask((lm256 + 0.5) / 4 - 0.5, 64)
    pooled = big.reshape(64, 4, 64, 4).mean(axis=(1, 3)) > 0.5
    iou = (pooled & small).sum() / (pooled | small).sum()
    assert iou > 0.9


def test_a_window_of_frames_unites_their_edit_regions():
    open_jaw = _landmarks({6: (16, 30), 10: (40, 30), 8: (28, 40.75), 30: (28, 10)})  # 45-degree V edges
    closed_jaw = _landmarks({6: (16, 28), 10: (40, 28), 8: (28, 38.75), 30: (28, 10)})
    stack = np.stack([closed_jaw, open_jaw])
    united = masks.edit_mask(stack, 64)
    expected = _hand_dilate(_hand_pentagon(64, 16, 40, 10, 28, 40) | _hand_pentagon(64, 16, 40, 10, 30, 42), 2)
    np.testing.assert_array_equal(united, expected)
    np.testing.assert_array_equal(masks.edit_mask(stack[:1], 64), masks.edit_mask(closed_jaw, 64))
    assert united.sum() > masks.edit_mask(closed_jaw, 64).sum()  # the lower edge no longer tells the jaw
    np.testing.assert_array_equal(masks.edit_mask(closed_jaw, 64, dilation=24.0),  # 24 px at 256 = 6 at 64
                                  _hand_dilate(_hand_pentagon(64, 16, 40, 10, 28, 40), 6))
    assert masks.window(0, 100, 12) == slice(0, 13) and masks.window(50, 100, 12) == slice(38, 63)
    assert masks.window(99, 100, 12) == slice(87, 100) and masks.window(5, 100, 0) == slice(5, 6)


def test_nearest_resize_samples_like_cv2():
    image = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(
        masks.resize_nearest(image, 6, 8), np.repeat(np.repeat(image, 2, axis=0), 2, axis=1))
    np.testing.assert_array_equal(masks.resize_nearest(image, 3, 2), image[:, [0, 2]])


def test_encoder_crop_is_the_masked_bounding_box_resized():
    resolution = 64
    lm = _landmarks({6: (16, 30), 10: (40, 30), 8: (28, 40.75), 30: (28, 10), 21: (27, 4)})
    image = np.random.default_rng(1).integers(1, 255, (resolution, resolution, 3), dtype=np.uint8)
    region = masks.eye_guided_mask(lm, resolution)
    ys, xs = np.nonzero(region)
    box = (image * region[..., None])[ys.min() : ys.max(), xs.min() : xs.max()]
    crop = masks.encoder_crop(image, lm, 48)
    assert crop.shape == (48, 48, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, masks.resize_nearest(box, 48, 48))
    assert (crop == 0).all(axis=-1).any(), "pixels outside the polygon must be blanked"


def test_encoder_crop_rejects_bad_input():
    lm = _landmarks({6: (16, 30), 10: (40, 30), 8: (28, 40), 30: (28, 10), 21: (27, 4)})
    with pytest.raises(ValueError, match="square"):
        masks.encoder_crop(np.zeros((64, 32, 3), np.uint8), lm, 32)
    with pytest.raises(ValueError, match="outside the image"):
        masks.encoder_crop(np.zeros((64, 64, 3), np.uint8), lm + 500, 32)
