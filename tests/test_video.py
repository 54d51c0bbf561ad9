"""Video I/O on small clips made on the fly with the bundled ffmpeg."""

import os
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile

from diffdub_jax.data import audio, video


def make_clip(path, size="64x48", rate="25", seconds=1.0, codec="libx264", sine=False, pix_fmt="yuv444p"):
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
               "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
    if sine:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    command += ["-c:v", codec]
    if codec == "libx264":
        command += ["-pix_fmt", pix_fmt]
    command += [str(path)]
    subprocess.run(command, check=True)
    return str(path)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return {
        "mp4_25_audio": make_clip(root / "a.mp4", rate="25", seconds=1.0, sine=True),
        "mov_ntsc": make_clip(root / "b.mov", rate="30000/1001", seconds=1.0),
        "mkv_30": make_clip(root / "c.mkv", rate="30", seconds=0.5),
        "avi_25": make_clip(root / "d.avi", rate="25", seconds=0.4, codec="mpeg4"),
        "webm_25": make_clip(root / "e.webm", rate="25", seconds=0.4, codec="libvpx"),
        "odd": make_clip(root / "f.mp4", size="65x49", rate="25", seconds=0.4),
    }


@pytest.mark.parametrize("name, fps, frames, width, height, has_audio", [
    ("mp4_25_audio", 25.0, 25, 64, 48, True),
    ("mov_ntsc", 30000 / 1001, 30, 64, 48, False),
    ("mkv_30", 30.0, 15, 64, 48, False),
    ("avi_25", 25.0, 10, 64, 48, False),
    ("webm_25", 25.0, 10, 64, 48, False),
    ("odd", 25.0, 10, 65, 49, False),
])
def test_probe_read_and_decode(clips, name, fps, frames, width, height, has_audio, tmp_path):
    info = video.probe_video(clips[name])
    assert info.fps == pytest.approx(fps, abs=1e-9)
    assert (info.num_frames, info.width, info.height, info.has_audio) == (frames, width, height, has_audio)
    assert info.duration == pytest.approx(frames / fps)
    read = list(video.read_frames(clips[name], info))
    assert len(read) == frames
    assert all(frame.shape == (height, width, 3) and frame.dtype == np.uint8 for frame in read)
    assert not np.array_equal(read[0], read[-1])  # testsrc moves: real, distinct frames
    # one pass gives both: the same facts and the same frames, as a .npy memory map
    decoded_info, decoded = video.decode_video(clips[name], str(tmp_path))
    assert decoded_info == info
    np.testing.assert_array_equal(decoded, np.stack(read))
    np.testing.assert_array_equal(np.load(tmp_path / "frames.npy"), np.stack(read))


def test_reading_can_stop_early(clips):
    path = clips["mp4_25_audio"]
    frames = video.read_frames(path)
    next(frames)
    frames.close()  # stops ffmpeg without reading the rest


@pytest.mark.parametrize("n, m, mode, expected", [
    (4, 10, "pingpong", [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]),
    (2, 5, "pingpong", [0, 1, 0, 1, 0]),
    (3, 8, "loop", [0, 1, 2, 0, 1, 2, 0, 1]),
    (3, 6, "freeze", [0, 1, 2, 2, 2, 2]),
    (1, 4, "pingpong", [0, 0, 0, 0]),
    (1, 3, "loop", [0, 0, 0]),
    (1, 2, "freeze", [0, 0]),
    (5, 3, "pingpong", [0, 1, 2]),
    (5, 3, "loop", [0, 1, 2]),
    (5, 3, "freeze", [0, 1, 2]),
    (5, 5, "pingpong", [0, 1, 2, 3, 4]),
    (5, 0, "loop", []),
])
def test_frame_schedule(n, m, mode, expected):
    np.testing.assert_array_equal(video.frame_schedule(n, m, mode), expected)


def test_pingpong_never_shows_a_frame_twice_in_a_row():
    for n in range(2, 7):
        schedule = video.frame_schedule(n, 50, "pingpong")
        assert np.all(np.abs(np.diff(schedule)) == 1)
        assert schedule.min() == 0 and schedule.max() == n - 1


def test_frame_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        video.frame_schedule(3, 5, "bounce")
    with pytest.raises(ValueError, match="at least one"):
        video.frame_schedule(0, 5)


def colour_frames(count, width, height):
    """Flat saturated blocks plus a moving bar: colour-matrix mistakes show on flat colours."""
    frames = []
    colours = [(220, 30, 30), (30, 200, 40), (40, 50, 210), (128, 128, 128)]
    for index in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        for block, colour in enumerate(colours):
            frame[:, block * width // 4:(block + 1) * width // 4] = colour
        frame[(index * 3) % height, :] = 255
        frames.append(frame)
    return frames


@pytest.mark.parametrize("width, height, fps", [(64, 48, 30000 / 1001), (65, 49, 25.0)])
def test_writer_round_trip(tmp_path, width, height, fps):
    wav = tmp_path / "speech.wav"
    sound = 0.3 * np.sin(np.linspace(0, 2000, 44100 * 3)).astype(np.float32)  # 3 s, longer than the video
    soundfile.write(wav, sound, 44100)
    frames = colour_frames(40, width, height)
    out = tmp_path / "out.mp4"
    assert video.write_video(str(out), frames, fps, audio_path=str(wav)) == 40
    info = video.probe_video(str(out))
    assert (info.num_frames, info.width, info.height, info.has_audio) == (40, width, height, True)
    assert info.fps == pytest.approx(fps, abs=1e-9)
    header = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)],
                            capture_output=True, text=True).stderr
    pix_fmt = "yuv420p" if width % 2 == 0 else "yuv444p"  # libx264 takes 4:2:0 only at even sizes
    assert f"Video: h264 (High{' 4:4:4 Predictive' if width % 2 else ''}) " in header
    assert f"{pix_fmt}(tv, bt709, progressive)" in header
    decoded = np.stack(list(video.read_frames(str(out), info))).astype(int)
    error = np.abs(decoded - np.stack(frames))
    assert np.median(error) <= 2 and error.mean() < 4
    track = video.extract_audio_track(str(out))
    assert len(track) / audio.SAMPLE_RATE == pytest.approx(40 / fps, abs=0.005)
    assert np.abs(track).max() > 0.1
    assert sorted(os.listdir(tmp_path)) == ["out.mp4", "speech.wav"]


def test_short_audio_is_padded_to_the_video(tmp_path, clips):
    out = tmp_path / "out.mp4"
    video.write_video(str(out), colour_frames(50, 32, 32), 25.0, audio_path=clips["mp4_25_audio"])
    info = video.probe_video(str(out))
    assert info.num_frames == 50
    assert len(video.extract_audio_track(str(out))) / audio.SAMPLE_RATE == pytest.approx(2.0, abs=0.005)


def test_failed_write_leaves_nothing_and_keeps_an_existing_file(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="boom"):
        with video.VideoWriter(str(out), 25.0) as writer:
            for frame in colour_frames(5, 32, 32):
                writer.write(frame)
            raise RuntimeError("boom")
    assert out.read_bytes() == b"previous result"
    assert os.listdir(tmp_path) == ["out.mp4"]


def test_ffmpeg_failures_clean_up(tmp_path, clips):
    out = tmp_path / "out.mp4"
    with pytest.raises(video.VideoError, match="out.mp4: audio file .*c.mkv has no audio stream"):
        video.write_video(str(out), colour_frames(3, 32, 32), 25.0, audio_path=clips["mkv_30"])
    with pytest.raises(video.VideoError, match="out.mp4: (ffmpeg stopped|encoding failed)"):
        with video.VideoWriter(str(out), 25.0) as writer:
            frames = colour_frames(400, 32, 32)
            writer.write(frames[0])
            writer._process.kill()  # stands in for ffmpeg crashing mid-encode
            for frame in frames[1:]:
                writer.write(frame)
    assert os.listdir(tmp_path) == []
    with pytest.raises(video.VideoError, match="no frames"):
        video.write_video(str(out), [], 25.0)
    assert os.listdir(tmp_path) == []


def test_writer_rejects_inconsistent_frames(tmp_path):
    with pytest.raises(ValueError, match="differs"):
        video.write_video(str(tmp_path / "o.mp4"), [np.zeros((32, 32, 3), np.uint8),
                                                    np.zeros((32, 34, 3), np.uint8)], 25.0)
    with pytest.raises(ValueError, match="uint8"):
        video.write_video(str(tmp_path / "o.mp4"), [np.zeros((32, 32, 3), np.float32)], 25.0)
    assert os.listdir(tmp_path) == []


def test_unreadable_inputs_have_clear_errors(tmp_path):
    with pytest.raises(video.VideoError, match="missing.mp4: no such file"):
        video.probe_video(str(tmp_path / "missing.mp4"))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(video.VideoError, match="corrupt.mp4: .*corrupt"):
        video.probe_video(str(corrupt))
    with pytest.raises(video.VideoError, match="corrupt.mp4: .*corrupt"):
        video.decode_video(str(corrupt), str(tmp_path))
    wav = tmp_path / "tone.wav"
    soundfile.write(wav, np.zeros(1600, np.float32), 16000)
    with pytest.raises(video.VideoError, match="tone.wav: .*no video stream"):
        video.probe_video(str(wav))
    with pytest.raises(video.VideoError, match="tone.wav: .*no video stream"):
        video.decode_video(str(wav), str(tmp_path))


def test_extract_audio_track(clips):
    track = video.extract_audio_track(clips["mp4_25_audio"])
    assert track.dtype == np.float32 and len(track) == pytest.approx(audio.SAMPLE_RATE, abs=1100)
    with pytest.raises(video.VideoError, match="b.mov: the video has no audio stream"):
        video.extract_audio_track(clips["mov_ntsc"])


def test_unwritable_output_is_refused_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(video.VideoError, match="does not exist"):
        video.check_output_path(str(tmp_path / "no_such_dir" / "out.mp4"))
    with pytest.raises(video.VideoError, match="is a directory"):
        video.check_output_path(str(tmp_path))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anyway: make the write probe fail as it would for a user
            def refuse(*args, **kwargs):
                raise PermissionError(13, "Permission denied")
            monkeypatch.setattr(video.tempfile, "TemporaryFile", refuse)
        with pytest.raises(video.VideoError, match="locked/out.mp4: .*not writable"):
            video.VideoWriter(str(locked / "out.mp4"), 25.0)
    finally:
        locked.chmod(0o755)
