"""The mouth's scores (`metrics.mouth`, `score`) on a talking face degraded on purpose: each failure
a dub can have (blur, grain, a mouth that moves at half amplitude, a frozen mouth) moves the score
meant to see it, and a faithful copy scores 1."""

import numpy as np
import pytest
from scipy import ndimage

from diffdub_jax.data import video
from diffdub_jax.evaluation import score
from diffdub_jax.metrics import mouth
from tfds_builders.synthetic_talking_faces import clips, face

FRAMES, SIZE = 40, 256


def _opening(num_frames: int) -> np.ndarray:
    """A speaking mouth's openness: two syllables a second, from nearly closed to wide open."""
    t = np.arange(num_frames) / 25.0
    return 0.45 + 0.4 * np.sin(2 * np.pi * 1.9 * t) * np.abs(np.sin(2 * np.pi * 0.7 * t + 0.4))


def _talking_face(openness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, SIZE, SIZE, 3) frames of one synthetic identity whose head sways while its mouth opens
    by `openness`, and their (T, 68, 2) landmarks."""
    identity = face.Identity.sample(clips.identity_rng(0, 7, "appearance"))
    background = face.background_image(face.make_background(identity, np.random.default_rng(7), 2 * SIZE))
    frames, points = [], []
    for i, value in enumerate(openness):
        pose = face.HeadPose(x=0.5 + 0.01 * np.sin(i / 6), y=0.42, scale=1.3, angle=0.04 * np.sin(i / 9))
        image, landmarks = face.render(identity, background, pose, np.array([value, 0.5, 0.2]), 1.0, SIZE, 2)
        frames.append(image)
        points.append(landmarks)
    return np.stack(frames), np.stack(points)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """name -> mp4 path: the reference, an identical copy, and the degraded 'dubs'."""
    root = tmp_path_factory.mktemp("mouth")
    openness = _opening(FRAMES)
    reference, _ = _talking_face(openness)
    grain = np.random.default_rng(0).normal(0, 6, reference.shape)
    degraded = {
        "reference": reference,
        "copy": reference,
        "blur": ndimage.gaussian_filter(reference.astype(np.float64), (0, 1.5, 1.5, 0)),
        "grain": reference + grain,
        "half_amplitude": _talking_face(openness.mean() + 0.5 * (openness - openness.mean()))[0],
        "frozen": _talking_face(np.full(FRAMES, openness.mean()))[0],
    }
    paths = {}
    for name, frames in degraded.items():
        paths[name] = str(root / f"{name}.mp4")
        video.write_video(paths[name], np.clip(np.rint(frames), 0, 255).astype(np.uint8), 25.0)
    return paths


@pytest.fixture(scope="module")
def scores(videos):
    scorer = score.Scorer()
    return {name: scorer.score(path, videos["reference"]) for name, path in videos.items() if name != "reference"}


def test_lip_openings_follow_the_drawn_mouth():
    openness = _opening(FRAMES)
    _, landmarks = _talking_face(openness)
    assert np.corrcoef(mouth.lip_openings(landmarks), openness)[0, 1] > 0.99
    half = openness.mean() + 0.5 * (openness - openness.mean())
    assert mouth.articulation_scores(_talking_face(half)[1], landmarks)["mouth_articulation"] == \
        pytest.approx(0.5, abs=0.02)


def test_a_faithful_copy_scores_one(scores):
    copy = scores["copy"]
    assert copy["mouth_articulation"] == 1.0 and copy["mouth_opening_r"] == pytest.approx(1.0)
    assert copy["mouth_opening_error"] == 0.0 and copy["mouth_texture_ratio"] == 1.0


def test_a_mouth_at_half_amplitude_reads_half_articulation_but_keeps_its_timing(scores):
    half = scores["half_amplitude"]
    assert 0.35 < half["mouth_articulation"] < 0.65, half
    assert half["mouth_opening_r"] > 0.9 and half["mouth_opening_error"] > 0.02, half
    assert 0.8 < half["mouth_texture_ratio"] < 1.25, half  # a real mouth, only moving less


def test_a_frozen_mouth_reads_no_articulation_and_no_correlation(scores):
    frozen = scores["frozen"]
    assert frozen["mouth_articulation"] < 0.25 and frozen["mouth_opening_r"] < 0.5, frozen
    assert frozen["mouth_opening_error"] > scores["half_amplitude"]["mouth_opening_error"]


def test_texture_rises_with_grain_and_falls_with_blur(scores):
    blur, grain = scores["blur"], scores["grain"]
    assert blur["mouth_texture_ratio"] < 0.7, blur
    assert grain["mouth_texture_ratio"] > 1.5, grain
    # grain leaves the mouth's motion as it was; under blur dlib still times it, but places the
    # softened inner lips less surely (articulation reads ~1.5 here), so only its r is held
    assert 0.8 < grain["mouth_articulation"] < 1.25 and grain["mouth_opening_r"] > 0.9, grain
    assert blur["mouth_opening_r"] > 0.85, blur


def test_stage_one_lmd_is_zero_for_a_copy_and_grows_when_the_mouth_moves_otherwise():
    """The reconstruction evaluator's LMD: dlib's mouth landmarks on the renders against the source's."""
    from diffdub_jax.data import faces  # pylint: disable=import-outside-toplevel
    from diffdub_jax.evaluation.reconstruction import landmark_distances  # noqa: E501  pylint: disable=import-outside-toplevel

    source, points = _talking_face(_opening(12))
    frozen, _ = _talking_face(np.full(12, 0.1))
    detector = faces.DlibDetector()
    copy = landmark_distances(source, source, points, detector)
    moved = landmark_distances(frozen, source, points, detector)
    assert len(copy) == 12 and len(moved) >= 10 and copy.max() == 0.0  # dlib may miss a frame
    assert moved.mean() > 2.0, moved
