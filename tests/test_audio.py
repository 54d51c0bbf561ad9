"""Audio front end: decoding any file, resampling, log-mel at 50 Hz, alignment to video."""

import numpy as np
import pytest
import soundfile

from diffdub_jax.data import audio, video


def _tone(rate, seconds, freq=440.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([wave] * channels, -1) if channels > 1 else wave


@pytest.mark.parametrize("rate, channels", [(44100, 2), (8000, 1), (48000, 2), (16000, 1)])
def test_load_audio_resamples_to_16k_mono(tmp_path, rate, channels):
    path = str(tmp_path / "tone.wav")
    soundfile.write(path, _tone(rate, 1.5, channels=channels), rate)
    wave = audio.load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 24000) <= 16
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * 16000 / len(wave) - 440) < 2


def test_load_audio_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "missing.wav")
    with pytest.raises(audio.AudioError, match="missing.wav: no such file"):
        audio.load_audio(missing)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(2000))
    with pytest.raises(audio.AudioError, match="corrupt.wav: cannot decode audio"):
        audio.load_audio(str(corrupt))
    empty = str(tmp_path / "empty.wav")
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(audio.AudioError, match="empty.wav"):
        audio.load_audio(empty)
    silent_video = str(tmp_path / "no_audio.mp4")
    video.write_video(silent_video, [np.zeros((32, 32, 3), np.uint8)] * 5, 25.0)
    with pytest.raises(audio.AudioError, match="no_audio.mp4: cannot decode audio \\(it has no audio stream\\)"):
        audio.load_audio(silent_video)


@pytest.mark.slow
def test_resample_and_mono():
    stereo = (_tone(48000, 1.0, channels=2) * 32767).astype(np.int16)
    out = audio.resample(stereo, 48000)
    assert out.shape == (16000,) and out.dtype == np.float32
    assert 0.45 < np.abs(out).max() < 0.55


def test_log_mel_runs_at_50_hz_and_locates_sound_in_time():
    wave = np.zeros(32000, np.float32)
    wave[16000:16800] = _tone(16000, 0.05)  # a 50 ms burst at t = 1.0 s
    features = audio.log_mel(wave)
    assert features.shape == (1 + 32000 // 320, 80) and features.dtype == np.float32
    loud = np.flatnonzero(features.max(axis=1) > features.max() - 3)
    assert loud.min() >= 49 and loud.max() <= 53
    silent = audio.log_mel(np.zeros(1600, np.float32))
    assert np.isfinite(silent).all()


def test_log_mel_of_other_rates_matches_16k():
    wave16 = _tone(16000, 1.0)
    wave48 = _tone(48000, 1.0)
    a, b = audio.log_mel(wave16), audio.log_mel(wave48, sample_rate=48000)
    assert a.shape == b.shape
    assert np.median(np.abs(a - b)) < 0.1


@pytest.mark.parametrize("fps", [25.0, 29.97, 30.0])
@pytest.mark.parametrize("seconds", [3.0, 4.2])
def test_alignment_gives_exactly_two_features_per_frame(fps, seconds):
    num_frames = int(fps * 4)  # a 4 s video, audio shorter or longer than it
    features = np.arange(int(seconds * 50) + 1, dtype=np.float32)[:, None]
    aligned = audio.align_to_video(features, 50.0, fps, num_frames)
    assert aligned.shape == (2 * num_frames, 1)
    times = np.arange(2 * num_frames) / (2 * fps)
    expected = np.minimum(np.rint(times * 50), len(features) - 1)
    np.testing.assert_array_equal(aligned[:, 0], expected)
    assert np.all(np.diff(aligned[:, 0]) >= 0)


def test_alignment_is_identity_at_25_fps():
    features = np.random.default_rng(0).standard_normal((200, 4)).astype(np.float32)
    np.testing.assert_array_equal(audio.align_to_video(features, 50.0, 25.0, 100), features)
    with pytest.raises(audio.AudioError, match="empty"):
        audio.align_to_video(features[:0], 50.0, 25.0, 10)
