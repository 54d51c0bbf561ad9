"""Audio -> stage-2 features, one frontend for training and inference: log-mel, or every HuBERT
hidden state at 50 Hz, two feature frames per video frame.

`AudioFrontend.from_config(config.audio)` is what both the stage-2 input pipeline and `infer` call,
so a model always meets at inference the features it was trained on.

HuBERT:

This reproduces the authors' extraction (Wav2Vec2FeatureExtractor with do_normalize=True, then
`HubertModel(..., output_hidden_states=True)` under transformers 4.x, the last frame edge-padded)
with bounded memory on long audio: the utterance is normalised as a whole, then the model runs on
windows of a fixed length under `jax.jit` (a bounded set of compiled shapes).

Windows: `chunk_seconds` (default 30 s = 1500 frames) long, of which `context_seconds` (default
3 s) on each side are computed and thrown away, so a window keeps 24 s. The context covers the
positional conv (128 frames = 2.56 s wide) exactly; attention is global, so frames from a chunked
pass differ from one pass over the whole utterance by however much trained HuBERT attends beyond
3 s (not measured here: no pretrained weights on the test machines), and the "group" conv stack
of hubert-base normalises per window. Audio up to one
window long is one pass, zero-padded and masked (which leaves the result unchanged) to the
smallest of 1/4, 1/2 or all of a window that holds it, so at most 3 shapes compile and clips
of up to 30 s match the authors' features exactly.
"""

from __future__ import annotations

import os
import tempfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from diffdub_jax.data import audio
from diffdub_jax.convert.hubert import HubertCheckpointError, check_folder, folder_layout, load_hubert
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.models.hubert import Hubert
from diffdub_jax.workdir import CheckpointMismatchError

DEFAULT_CHUNK_SECONDS = 30.0
DEFAULT_CONTEXT_SECONDS = 3.0


def normalize_waveform(waveform: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over the utterance, as Wav2Vec2FeatureExtractor's do_normalize."""
    waveform = np.asarray(waveform, np.float64)
    return ((waveform - waveform.mean()) / np.sqrt(waveform.var() + 1e-7)).astype(np.float32)


class HubertFeatures:
    """A loaded HuBERT and the chunking policy; call `hidden_states` or `for_video`."""

    def __init__(self, model: Hubert, params, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                 context_seconds: float = DEFAULT_CONTEXT_SECONDS, normalize: bool = True):
        rate = audio.SAMPLE_RATE / model.stride
        self.window = int(round(chunk_seconds * rate))
        self.context = int(round(context_seconds * rate))
        if self.window - 2 * self.context < 1:
            raise InvalidInputError(f"chunk_seconds={chunk_seconds} leaves no frames once {context_seconds} s of "
                                    "context is dropped on both sides")
        self.model, self.params, self.normalize = model, params, normalize
        self.frame_rate = rate
        self._apply = jax.jit(lambda p, x, valid: model.apply({"params": p}, x, valid))

    @classmethod
    def from_pretrained(cls, directory: str, dtype: jnp.dtype = jnp.float32, **kwargs) -> "HubertFeatures":
        """Loads a local Hugging Face HuBERT folder (see diffdub_jax.convert.hubert)."""
        model, params = load_hubert(directory, dtype)
        return cls(model, params, **kwargs)

    def _run(self, waveform: np.ndarray, start: int, frames: int) -> np.ndarray:
        """(states, frames, hidden) for the window of `frames` frames from sample `start`, the audio
        zero-padded (and masked) past its end."""
        samples = (frames - 1) * self.model.stride + self.model.receptive_field
        chunk = np.zeros((1, samples), np.float32)
        piece = waveform[start:start + samples]
        chunk[0, :len(piece)] = piece
        valid = (np.arange(samples) < len(piece))[None].astype(np.float32)
        return np.asarray(self._apply(self.params, chunk, valid), np.float32)[:, 0]

    def hidden_states(self, waveform: np.ndarray, dtype: np.dtype = np.float32, name: str = "waveform") -> np.ndarray:
        """(num_hidden_layers + 1, frames, hidden) at 50 Hz for a 16 kHz mono waveform; frame k
        starts at sample 320 k. Audio shorter than one frame (25 ms) is zero-padded to one. `name`
        (e.g. the file) starts the message of an AudioError."""
        waveform = np.asarray(waveform, np.float32)
        if waveform.ndim != 1 or not np.isfinite(waveform).all():
            raise audio.AudioError(f"{name}: expected finite (samples,) audio, got shape {waveform.shape} "
                                   f"with {np.size(waveform) - np.isfinite(waveform).sum()} non-finite values")
        if self.normalize:
            waveform = normalize_waveform(waveform)
        if len(waveform) < self.model.receptive_field:
            waveform = np.pad(waveform, (0, self.model.receptive_field - len(waveform)))
        total = self.model.num_frames(len(waveform))
        out = np.empty((self.model.num_hidden_layers + 1, total, self.model.hidden_size), dtype)
        if total <= self.window:  # one pass, in the smallest of 3 window sizes that fits
            frames = min(size for size in (-(-self.window // 2**k) for k in range(3)) if size >= total)
            out[:] = self._run(waveform, 0, frames)[:, :total]
            return out
        keep = self.window - 2 * self.context
        for first in range(0, total, keep):
            last = min(first + keep, total)
            start = min(max(first - self.context, 0), total - self.window)
            window = self._run(waveform, start * self.model.stride, self.window)
            out[:, first:last] = window[:, first - start:last - start]
        return out

    def for_video(self, waveform: np.ndarray, fps: float, num_frames: int, name: str = "waveform",
                  start: float = 0.0) -> np.ndarray:
        """(num_hidden_layers + 1, 2 * num_frames, hidden) float16: feature row j is the 50 Hz frame
        nearest to time start + j / (2 fps) (start: when frame 0 begins in the waveform); the last
        frame repeats past the audio's end and features past the video are dropped (at 25 fps: the
        authors' one-frame edge pad, then trimming)."""
        if not fps > 0 or num_frames < 1:
            raise InvalidInputError(f"need fps > 0 and num_frames >= 1, got fps={fps}, num_frames={num_frames}")
        states = self.hidden_states(waveform, np.float16, name)
        aligned = audio.align_to_video(states.transpose(1, 0, 2), self.frame_rate, fps, num_frames, start)
        return np.ascontiguousarray(aligned.transpose(1, 0, 2))

    def for_file(self, path: str, fps: float, num_frames: int) -> np.ndarray:
        """`for_video` of any audio (or video) file ffmpeg decodes; AudioError names a bad file."""
        return self.for_video(audio.load_audio(path), fps, num_frames, name=path)


def extract_to_file(audio_path: str, hubert_dir: str, fps: float, num_frames: int, output: str,
                    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                    context_seconds: float = DEFAULT_CONTEXT_SECONDS) -> tuple[int, ...]:
    """Writes `for_file` features to `output` (.npy) atomically (temp file, then rename); returns
    their shape."""
    waveform = audio.load_audio(audio_path)  # before the model, so a bad file fails fast
    extractor = HubertFeatures.from_pretrained(hubert_dir, chunk_seconds=chunk_seconds,
                                               context_seconds=context_seconds)
    features = extractor.for_video(waveform, fps, num_frames, name=audio_path)
    directory = os.path.dirname(os.path.abspath(output))
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(suffix=".npy.tmp", dir=directory)
    except OSError as error:  # a read-only or misspelt --output: the user's to fix
        raise InvalidInputError(f"{output}: cannot write there ({error.strerror})") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, features)
        os.replace(temporary, output)
    except BaseException:
        os.unlink(temporary)
        raise
    return features.shape


FRONTENDS = ("mel", "hubert")


class AudioFrontend:
    """The features a motion generator reads, from its config's `audio` section: 'mel' (log-mel,
    no weights) or 'hubert' (every hidden state of the HuBERT folder audio.hubert_dir, or of
    hubert_dir when given; a relative path is taken from the current directory). HuBERT loads on
    first use; `check` finds a missing or mismatched folder without loading it."""

    def __init__(self, audio_config: ml_collections.ConfigDict, hubert_dir: str | None = None):
        self.kind = audio_config.frontend
        if self.kind not in FRONTENDS:
            raise InvalidInputError(f"unknown audio.frontend {self.kind!r}; choose one of {FRONTENDS}")
        self.config = audio_config.copy_and_resolve_references()
        self.hubert_dir = os.path.abspath(os.path.expanduser(hubert_dir or audio_config.get("hubert_dir", "")))
        self._hubert: HubertFeatures | None = None

    def check(self, model: ml_collections.ConfigDict) -> None:
        """Fails at once, naming the folder (absolute) and what to do, when the features cannot be
        made or do not fit the motion model's `model` section (audio_dim, audio_layers)."""
        if self.kind == "mel":
            if model.audio_dim != self.config.num_mels or model.get("audio_layers", 0):
                raise CheckpointMismatchError(f"the motion model reads {model.audio_dim}-d features, the mel "
                                              f"frontend makes {self.config.num_mels}")
            return
        check_folder(self.hubert_dir)
        hidden, states = folder_layout(self.hubert_dir)
        if (hidden, states) != (model.audio_dim, model.audio_layers):
            raise HubertCheckpointError(
                f"{self.hubert_dir}: this HuBERT has {states} hidden states of {hidden} values, the motion model "
                f"was trained on {model.audio_layers} of {model.audio_dim} (HuBERT-large: 25 of 1024)")

    @property
    def hubert(self) -> HubertFeatures:
        if self._hubert is None:
            self._hubert = HubertFeatures.from_pretrained(self.hubert_dir,
                                                          chunk_seconds=self.config.chunk_seconds,
                                                          context_seconds=self.config.context_seconds)
        return self._hubert

    def for_video(self, waveform: np.ndarray, sample_rate: int, fps: float, num_frames: int,
                  name: str = "waveform", start: float = 0.0) -> np.ndarray:
        """Features of a mono waveform aligned to num_frames video frames at fps, frame 0 beginning
        `start` seconds into the waveform: (2 T, num_mels) float32 log-mel, or (layers, 2 T,
        hidden) float16 HuBERT states."""
        if self.kind == "mel":
            features = audio.log_mel(waveform, sample_rate, self.config.num_mels)
            return audio.align_to_video(features, audio.FEATURE_RATE, fps, num_frames, start)
        if sample_rate != audio.SAMPLE_RATE:
            waveform = audio.resample(waveform, sample_rate, audio.SAMPLE_RATE)
        return self.hubert.for_video(waveform, fps, num_frames, name=name, start=start)

    def for_clip(self, clip) -> np.ndarray:
        """for_video of a dataset clip's own audio, aligned to its frames (the stage-2 pipeline's input)."""
        name = clip.get("clip_id", b"clip")
        waveform, sample_rate, fps, num_frames, start = audio.clip_audio(clip)
        return self.for_video(waveform, sample_rate, fps, num_frames, start=start,
                              name=name.decode() if isinstance(name, bytes) else str(name))
