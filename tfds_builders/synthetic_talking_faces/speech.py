"""Speech-like audio from an articulatory trajectory, so the mouth is a function of the sound.

A random utterance (phrases of consonant-vowel syllables separated by pauses) is turned into
targets for three articulators -- mouth openness, width (lip spread) and rounding -- which are
smoothed in time (coarticulation). The waveform is synthesised *from* that trajectory: the
formants follow the articulators (F1 rises with openness, F2 with spread and falls with rounding),
the voiced amplitude follows openness, and consonants add noise bursts. The mouth state of a video
frame is the trajectory averaged over that frame, so it is determined by the audio around the
frame and a model can learn (and a metric can check) lip sync.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

CONTROL_RATE = 1000  # articulator samples per second
VOICED_BANDWIDTH_HZ = 5000.0  # harmonics above this carry little vowel energy; skip them

# (openness, width, rounding) targets in [0, 1].
VOWELS = {
    "a": (0.95, 0.55, 0.0),
    "e": (0.55, 0.85, 0.0),
    "i": (0.25, 1.0, 0.0),
    "o": (0.65, 0.3, 0.75),
    "u": (0.3, 0.1, 1.0),
}
# name: (articulation, noise band (Hz), noise level, voiced, closure before burst)
CONSONANTS = {
    "p": ((0.0, 0.5, 0.2), (500.0, 4000.0), 0.5, False, True),
    "m": ((0.0, 0.5, 0.1), None, 0.0, True, False),
    "t": ((0.15, 0.6, 0.0), (3000.0, 6500.0), 0.4, False, True),
    "s": ((0.1, 0.8, 0.0), (4000.0, 7800.0), 0.35, False, False),
    "f": ((0.06, 0.6, 0.0), (1500.0, 7000.0), 0.2, False, False),
}
REST = (0.0, 0.45, 0.0)


@dataclasses.dataclass(frozen=True)
class Voice:
    """Per-identity voice: pitch and vocal-tract length (formant scale)."""

    pitch_hz: float
    formant_scale: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Voice":
        low_voice = rng.random() < 0.5
        pitch = rng.uniform(95, 140) if low_voice else rng.uniform(175, 240)
        scale = rng.uniform(0.88, 1.0) if low_voice else rng.uniform(1.02, 1.15)
        return cls(pitch_hz=float(pitch), formant_scale=float(scale))


@dataclasses.dataclass(frozen=True)
class Utterance:
    """Articulator trajectory at CONTROL_RATE and the matching waveform."""

    articulators: np.ndarray  # (n_control, 3) openness, width, rounding
    voicing: np.ndarray  # (n_control,) 1 where the vocal folds vibrate
    waveform: np.ndarray  # (n_samples,) float32 in [-1, 1]
    sample_rate: int


def _plan_segments(rng: np.random.Generator, duration_s: float):
    """A list of (duration_s, articulation, consonant-or-None, voiced) covering duration_s."""
    segments = [(rng.uniform(0.15, 0.4), REST, None, False)]
    total = segments[0][0]
    while total < duration_s:
        for _ in range(rng.integers(2, 7)):  # a phrase
            if rng.random() < 0.7:
                name = rng.choice(list(CONSONANTS))
                art, _, _, voiced, closure = CONSONANTS[name]
                if closure:
                    segments.append((rng.uniform(0.04, 0.07), art, None, False))
                segments.append((rng.uniform(0.05, 0.1), art, name, voiced))
            vowel = rng.choice(list(VOWELS))
            segments.append((rng.uniform(0.12, 0.3), VOWELS[vowel], None, True))
        segments.append((rng.uniform(0.2, 0.8), REST, None, False))  # pause
        total = sum(s[0] for s in segments)
    return segments


def _rasterise(segments, n_control: int):
    """Piecewise-constant control tracks from the segment plan."""
    articulators = np.empty((n_control, 3), np.float64)
    voicing = np.zeros(n_control, np.float64)
    noise = {name: np.zeros(n_control, np.float64) for name in CONSONANTS}
    start = 0
    for duration, art, consonant, voiced in segments:
        stop = min(n_control, start + max(1, int(round(duration * CONTROL_RATE))))
        articulators[start:stop] = art
        voicing[start:stop] = float(voiced)
        if consonant is not None and CONSONANTS[consonant][1] is not None:
            noise[consonant][start:stop] = CONSONANTS[consonant][2]
        start = stop
        if start >= n_control:
            break
    articulators[start:] = REST
    return articulators, voicing, noise


def _resonance(freq: np.ndarray, freq_sq: np.ndarray, centre_sq: np.ndarray, bandwidth: float,
               out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Magnitude response of a second-order resonator normalised to 1 at DC,
    centre² / sqrt((centre² - freq²)² + (freq * bandwidth)²), written into out.

    It runs for every harmonic and formant over the whole clip, where fresh temporaries cost
    several times the arithmetic; hence the squares passed in and the in-place steps (scratch is
    overwritten).
    """
    np.subtract(centre_sq, freq_sq, out=out)
    np.square(out, out=out)
    np.multiply(freq, bandwidth, out=scratch)
    np.square(scratch, out=scratch)
    out += scratch
    np.sqrt(out, out=out)
    return np.divide(centre_sq, out, out=out)


def _band_noise(rng: np.random.Generator, n: int, sample_rate: int, band) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum[(freqs < band[0]) | (freqs > band[1])] = 0.0
    out = np.fft.irfft(spectrum, n)
    return out / (np.std(out) + 1e-9)


def synthesise(
    rng: np.random.Generator, voice: Voice, duration_s: float, sample_rate: int = 16000
) -> Utterance:
    """Draws a random utterance of exactly duration_s seconds for the given voice."""
    n_control = int(round(duration_s * CONTROL_RATE))
    n_samples = int(round(duration_s * sample_rate))
    articulators, voicing, noise_levels = _rasterise(_plan_segments(rng, duration_s), n_control)
    # Coarticulation: the lips move smoothly between targets (~25 ms), voicing switches fast.
    articulators = ndimage.gaussian_filter1d(articulators, sigma=25, axis=0, mode="nearest")
    voicing = ndimage.gaussian_filter1d(voicing, sigma=6, mode="nearest")
    for name in noise_levels:
        noise_levels[name] = ndimage.gaussian_filter1d(noise_levels[name], sigma=5, mode="nearest")

    control_t = np.arange(n_control) / CONTROL_RATE
    t = np.arange(n_samples) / sample_rate

    def upsample(track):
        return np.interp(t, control_t, track)

    openness, width, rounding = (articulators[:, i] for i in range(3))
    # Intonation: slow declination and drift around the speaker's pitch.
    drift = 1.0 + 0.08 * np.sin(2 * np.pi * 0.4 * control_t + rng.uniform(0, 2 * np.pi))
    f0 = upsample(voice.pitch_hz * drift)
    scale = voice.formant_scale
    formants = [
        upsample((280.0 + 560.0 * openness) * scale),
        upsample((850.0 + 1350.0 * width - 400.0 * rounding) * scale),
        upsample((2350.0 + 350.0 * width) * scale),
    ]
    bandwidths = (90.0, 110.0, 170.0)
    amplitude = upsample(voicing * (0.2 + 0.8 * openness))

    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = np.zeros(n_samples)
    top_hz = min(VOICED_BANDWIDTH_HZ, 0.47 * sample_rate)
    max_harmonic = int(top_hz / (0.92 * voice.pitch_hz))  # f0 dips to 0.92x the speaker's pitch
    formants_sq = [centre**2 for centre in formants]
    f0_max = f0.max()
    freq, freq_sq, gain, response, scratch = (np.empty(n_samples) for _ in range(5))
    for k in range(1, max_harmonic + 1):
        np.multiply(f0, k, out=freq)
        np.square(freq, out=freq_sq)
        gain.fill(1.0 / k)  # glottal source tilt, -6 dB per octave after radiation
        for centre_sq, bandwidth in zip(formants_sq, bandwidths):
            gain *= _resonance(freq, freq_sq, centre_sq, bandwidth, response, scratch)
        if k * f0_max > top_hz:  # only the top harmonics ever pass it
            gain[freq > top_hz] = 0.0
        wave = np.sin(k * phase)
        wave *= gain
        voiced += wave
    voiced *= amplitude / (np.percentile(np.abs(voiced), 99) + 1e-9)

    unvoiced = np.zeros(n_samples)
    for name, level in noise_levels.items():
        band = CONSONANTS[name][1]
        if band is not None and level.any():
            unvoiced += upsample(level) * _band_noise(rng, n_samples, sample_rate, band) * 0.25
    floor = 10 ** (-60 / 20) * rng.standard_normal(n_samples)  # near-silent room tone
    waveform = voiced * 0.6 + unvoiced + floor
    waveform = (0.9 * waveform / max(np.abs(waveform).max(), 1e-9)).astype(np.float32)
    return Utterance(
        articulators=articulators.astype(np.float32),
        voicing=voicing.astype(np.float32),
        waveform=waveform,
        sample_rate=sample_rate,
    )


def frame_mouth_states(utterance: Utterance, fps: float, num_frames: int) -> np.ndarray:
    """Mouth state (openness, width, rounding) of each video frame: the trajectory averaged
    over the frame's exposure interval [t/fps, (t+1)/fps)."""
    n_control = len(utterance.articulators)
    edges = np.round(np.arange(num_frames + 1) / fps * CONTROL_RATE).astype(int)
    edges = np.clip(edges, 0, n_control)
    cumulative = np.concatenate([np.zeros((1, 3)), np.cumsum(utterance.articulators, 0)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)[:, None]
    means = (cumulative[edges[1:]] - cumulative[edges[:-1]]) / counts
    return np.clip(means, 0.0, 1.0).astype(np.float32)  # the cumulative sum rounds a hair past 1
