"""The embedded default dataset: shapes, determinism, held-out identities, lip sync in pixels."""

import numpy as np
import pytest

from conftest import SMALL, array_record_files
from diffdub_jax.data import datasets
from diffdub_jax.metrics import lipsync
from tfds_builders.synthetic_talking_faces import clips


def _decoded(clip):
    frames = np.stack([datasets.decode_frame(png) for png in clip["frames"]["image"]])
    return frames, np.asarray(clip["frames"]["landmarks"])


@pytest.mark.parametrize("split", ["train", "test"])
def test_examples_have_declared_shapes_and_dtypes(small_data_dir, split):
    source = datasets.clip_source(SMALL, split, small_data_dir)
    assert len(source) == {"train": 6, "test": 3}[split]
    for index in range(len(source)):
        clip = source[index]
        frames, landmarks = _decoded(clip)
        num_frames = len(frames)
        assert 4.0 * 25 <= num_frames <= 5.0 * 25 + 1
        assert frames.shape == (num_frames, 64, 64, 3) and frames.dtype == np.uint8
        assert landmarks.shape == (num_frames, 68, 2) and landmarks.dtype == np.float32
        mouth = np.asarray(clip["frames"]["mouth"])
        assert mouth.shape == (num_frames, 3) and mouth.dtype == np.float32
        assert mouth.min() >= 0.0 and mouth.max() <= 1.0
        eyes = np.asarray(clip["frames"]["eye_openness"])
        assert eyes.shape == (num_frames,) and eyes.min() >= 0.0 and eyes.max() == 1.0
        assert clip["waveform"].dtype == np.int16
        assert clip["waveform"].shape == (round(num_frames / 25 * 16000),)
        assert float(clip["fps"]) == 25.0 and int(clip["sample_rate"]) == 16000
        assert np.all((landmarks > 0) & (landmarks < 63)), "landmarks leave the image"


def test_same_seed_gives_identical_bytes(small_data_dir, tmp_path):
    datasets.prepare(SMALL, str(tmp_path))
    first, second = array_record_files(small_data_dir), array_record_files(str(tmp_path))
    assert sorted(first) == sorted(second) and len(first) == 2
    for name in first:
        assert first[name] == second[name], name


def test_a_different_seed_gives_a_different_clip():
    spec = clips.ClipSpec(seed=0, identity=3, clip=0, image_size=32, min_seconds=1, max_seconds=1)
    a = clips.generate_clip(spec)
    b = clips.generate_clip(clips.ClipSpec(**{**spec.__dict__, "seed": 1}))
    assert a["frames"]["image"][0] != b["frames"]["image"][0]
    assert not np.array_equal(a["waveform"], b["waveform"])


def test_test_identities_never_appear_in_train(small_data_dir):
    def identities(split):
        source = datasets.clip_source(SMALL, split, small_data_dir)
        return {int(source[i]["identity"]) for i in range(len(source))}

    train, test = identities("train"), identities("test")
    assert len(train) == 6 and len(test) == 3
    assert not train & test


def test_mouth_pixels_follow_true_openness_and_audio(small_data_dir):
    """Lip sync is in the pixels: dark mouth-interior area vs the true openness and the audio."""
    measured_all, open_all, blinks_all, envelope_all = [], [], [], []
    for split in ("train", "test"):
        source = datasets.clip_source(SMALL, split, small_data_dir)
        for index in range(len(source)):
            clip = source[index]
            frames, landmarks = _decoded(clip)
            measured = lipsync.mouth_openings(frames, landmarks)
            true_open = np.asarray(clip["frames"]["mouth"])[:, 0]
            envelope = lipsync.audio_envelope(clip["waveform"] / 32768.0, 16000, 25.0, len(frames))
            assert lipsync.pearson(measured, true_open) > 0.9, clip["clip_id"]
            assert lipsync.pearson(measured, envelope) > 0.6, clip["clip_id"]
            blinks_all.append(np.asarray(clip["frames"]["eye_openness"]))
            envelope_all.append(envelope)
            measured_all.append(measured)
            open_all.append(true_open)
    assert lipsync.pearson(np.concatenate(measured_all), np.concatenate(open_all)) > 0.85
    blink_vs_audio = lipsync.pearson(np.concatenate(blinks_all), np.concatenate(envelope_all))
    assert abs(blink_vs_audio) < 0.2, "blinks must not follow the audio"


def test_the_mouth_measure_does_not_read_the_jaw(small_data_dir):
    """The box is placed by eyes and nose: a dub is scored by the mouth it drew, not by the source
    jaw (which drops as the source mouth opens) that the measure's landmarks come from."""
    clip = datasets.clip_source(SMALL, "test", small_data_dir)[0]
    frames, landmarks = _decoded(clip)
    moved = landmarks[0].copy()
    moved[0:17] += (0.0, 3.0)  # the jaw line drops, the lips move
    moved[48:68] += (0.0, 2.0)
    assert np.array_equal(lipsync.mouth_region(landmarks[0], 64, 64), lipsync.mouth_region(moved, 64, 64))
    assert lipsync.mouth_opening(frames[0], moved) == lipsync.mouth_opening(frames[0], landmarks[0])


def test_landmarks_sit_on_the_drawing(small_data_dir):
    """Inside the open inner-lip contour the pixels are dark; on the cheeks they are skin."""
    clip = datasets.clip_source(SMALL, "test", small_data_dir)[0]
    frames, landmarks = _decoded(clip)
    mouth = np.asarray(clip["frames"]["mouth"])
    wide = np.flatnonzero(mouth[:, 0] > 0.7)
    assert len(wide) > 0
    for t in wide:
        lower_centre = 0.35 * landmarks[t, 62] + 0.65 * landmarks[t, 66]
        x, y = np.rint(lower_centre).astype(int)
        assert frames[t, y, x].astype(float) @ [0.299, 0.587, 0.114] < 50
    cheek = np.rint(0.5 * landmarks[0, 3] + 0.5 * landmarks[0, 31]).astype(int)
    nose = np.rint(landmarks[0, 29]).astype(int)
    np.testing.assert_allclose(frames[0, cheek[1], cheek[0]], frames[0, nose[1], nose[0]], atol=40)
