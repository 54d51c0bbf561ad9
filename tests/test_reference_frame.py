"""The reference frame `infer --reference=auto` picks: mouth closed, head frontal."""

import numpy as np
import pytest

from conftest import SMALL
from diffdub_jax.data import datasets, reference_frame


def _clip(small_data_dir, index=0):
    clip = datasets.clip_source(SMALL, "train", small_data_dir)[index]
    return np.asarray(clip["frames"]["landmarks"], np.float64), np.asarray(clip["frames"]["mouth"])[:, 0]


def test_auto_picks_a_closed_mouth(small_data_dir):
    for index in range(3):
        landmarks, true_openness = _clip(small_data_dir, index)
        assert np.corrcoef(reference_frame.mouth_openness(landmarks), true_openness)[0, 1] > 0.9
        chosen = reference_frame.choose_reference(landmarks)
        assert true_openness[chosen] <= np.quantile(true_openness, 0.25), (index, chosen)


def test_auto_prefers_a_frontal_face_when_the_head_turns(small_data_dir):
    landmarks, true_openness = _clip(small_data_dir)
    frontal_yaw = reference_frame.head_yaw(landmarks)
    turned = landmarks.copy()
    half = len(turned) // 2
    jaw = turned[:half, 16, 0] - turned[:half, 0, 0]
    turned[:half, 27:36, 0] += 0.3 * jaw[:, None]  # the nose moves towards one jaw end: a turn of ~35 degrees
    yaw = reference_frame.head_yaw(turned)
    assert (yaw[:half] > frontal_yaw[:half] + 0.4).all() and np.allclose(yaw[half:], frontal_yaw[half:])
    chosen = reference_frame.choose_reference(turned)
    assert chosen >= half and true_openness[chosen] <= np.quantile(true_openness[half:], 0.25)


def test_no_landmarks_is_refused():
    with pytest.raises(ValueError, match="no landmarks"):
        reference_frame.choose_reference(np.zeros((0, 68, 2)))
