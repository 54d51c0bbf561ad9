"""Video in and out through the ffmpeg binary bundled with imageio-ffmpeg.

Every reader sees a video as constant-rate frames at its nominal fps (`-fps_mode cfr`): frame i
shows time i / fps, which is what aligning audio features to frames assumes. Variable-rate sources
get frames duplicated or dropped to that rate, the same way in `probe_video` and `read_frames`,
so the probed count is the number of frames read.

Writing goes to a hidden temporary file next to the output and is renamed only when ffmpeg
finished, so a crash never leaves a half-written video at the output path.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
import uuid
from fractions import Fraction
from typing import Iterable, Iterator

import imageio_ffmpeg
import numpy as np
from tqdm import tqdm

from diffdub_jax.data import audio
from diffdub_jax.errors import InvalidInputError, UserError

SCHEDULE_MODES = ("pingpong", "freeze", "loop")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".flv", ".m4v")  # what folders of videos are read for
_AUDIO_STREAM = r"^\s*Stream #0:\d+\S*: Audio:"


class VideoError(UserError, ValueError):
    """A video that cannot be read or written; the message names the file and the reason."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs before reading frames: rate, exact length, size, a speech track."""

    fps: float
    num_frames: int
    width: int
    height: int
    has_audio: bool
    duration: float  # num_frames / fps: the span of the frames read, not the container's


def _ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_reason(stderr: str, returncode: int) -> str:
    """The most telling line of a failed ffmpeg run."""
    if "matches no streams" in stderr:
        return "it has no video stream"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Invalid data found" in line or "moov atom not found" in line:
            return "corrupt file or unknown format"
    return lines[-1] if lines else f"ffmpeg exited with {returncode}"


def _exact_fps(text: str) -> Fraction:
    """ffmpeg prints rates rounded to 2 decimals ("29.97"); snap NTSC rates back to k*1000/1001."""
    value = float(text[:-1]) * 1000 if text.endswith("k") else float(text)
    ntsc = round(value * 1.001)
    if abs(value - round(value)) > 0.005 and abs(value * 1.001 - ntsc) < 0.006:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(value).limit_denominator(1001)


def check_input(path: str) -> None:
    """VideoError naming path unless it is a file (before anything reads it)."""
    if not os.path.exists(path):
        raise VideoError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise VideoError(f"{path}: not a file")


def _has_audio_stream(path: str) -> bool:
    """Reads only the header (ffmpeg -i without an output), so it costs no decoding."""
    header = subprocess.run([_ffmpeg(), "-nostdin", "-hide_banner", "-i", path], capture_output=True,
                            text=True, errors="replace", check=False).stderr
    return re.search(_AUDIO_STREAM, header, re.M) is not None


def _stream_facts(path: str, stderr: str, frames_reported: str) -> VideoInfo:
    """VideoInfo from an ffmpeg run's log (stream parameters) and its -progress output (frames)."""
    input_part, _, output_part = stderr.partition("\nOutput #0")
    has_audio = re.search(_AUDIO_STREAM, input_part, re.M) is not None
    # The output stream shows frames as decoded (after rotation) at the rate the reader uses.
    stream = re.search(r"Stream #0:0\S*: Video: .*", output_part)
    size = re.search(r" (\d+)x(\d+)[ ,]", stream.group(0)) if stream else None
    rate = re.search(r" ([\d.]+k?) (?:fps|tbr)", stream.group(0)) if stream else None
    counts = re.findall(r"^frame=(\d+)$", frames_reported, re.M)
    if not (size and rate and counts):
        raise VideoError(f"{path}: cannot read video (ffmpeg reported no video stream parameters)")
    num_frames = int(counts[-1])
    if num_frames == 0:
        raise VideoError(f"{path}: the video stream has no decodable frames")
    fps = _exact_fps(rate.group(1))
    return VideoInfo(fps=float(fps), num_frames=num_frames, width=int(size.group(1)),
                     height=int(size.group(2)), has_audio=has_audio, duration=float(num_frames / fps))


def _decode_command(path: str, output: str, output_format: list[str], progress: str = "pipe:1") -> list[str]:
    """ffmpeg decoding the first video stream at its constant rate into output (its options in
    output_format), writing -progress lines (the frame count) to progress."""
    return [_ffmpeg(), "-nostdin", "-hide_banner", "-nostats", "-i", path, "-map", "0:v:0", "-fps_mode", "cfr",
            *output_format, "-progress", progress, output]


def probe_video(path: str) -> VideoInfo:
    """Stream facts of the first video stream, with the exact number of frames read_frames yields.

    The count comes from decoding the whole stream (container frame counts are missing or wrong
    for many files, and variable-rate sources gain or lose frames): one ffmpeg decode pass without
    colour conversion or piping, about 180 frames/s for 1080p H.264 on two cores (40 s for five
    minutes at 25 fps), a third of what read_frames costs and far below rendering a frame. To read
    the frames as well, `decode_video` does both in one pass.
    """
    check_input(path)
    result = subprocess.run(_decode_command(path, "-", ["-f", "null"]), capture_output=True, text=True,
                            errors="replace", check=False)
    if result.returncode != 0:
        raise VideoError(f"{path}: cannot read video ({_ffmpeg_reason(result.stderr, result.returncode)})")
    return _stream_facts(path, result.stderr, result.stdout)


NPY_HEADER_BYTES = 128  # np.save's header for a 4-d uint8 array of any practical shape


def decode_video(path: str, directory: str, name: str = "frames.npy") -> tuple[VideoInfo, np.ndarray]:
    """The video's stream facts (as probe_video) and every frame, (T, H, W, 3) uint8 RGB memory-mapped
    from `directory/name` (a .npy file), from one decoding pass: the frames stream to disk behind a
    placeholder header that is written once ffmpeg has said how many there were. Indexable (a face
    track reads frames twice) at a page cache's cost instead of the whole video in memory."""
    check_input(path)
    target = os.path.join(directory, name)
    with tempfile.TemporaryDirectory(prefix="diffdub_decode_") as scratch, open(target, "wb") as out:
        out.write(b"\0" * NPY_HEADER_BYTES)
        log_path, progress_path = os.path.join(scratch, "log"), os.path.join(scratch, "progress")
        command = _decode_command(path, "-", ["-f", "rawvideo", "-pix_fmt", "rgb24"], progress=progress_path)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
            try:
                with tqdm(desc="decode", unit="B", unit_scale=True, leave=False) as bar:
                    while block := process.stdout.read(1 << 20):
                        out.write(block)
                        bar.update(len(block))
            except BaseException:
                process.kill()
                raise
            finally:
                process.stdout.close()
                returncode = process.wait()
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            stderr = handle.read()
        if returncode != 0:
            raise VideoError(f"{path}: cannot read video ({_ffmpeg_reason(stderr, returncode)})")
        with open(progress_path, encoding="utf-8", errors="replace") as handle:
            info = _stream_facts(path, stderr, handle.read())
        written = out.tell() - NPY_HEADER_BYTES
        if written != info.num_frames * info.height * info.width * 3:
            raise VideoError(f"{path}: decoded {written} bytes, not the {info.num_frames} frames of "
                             f"{info.width}x{info.height} ffmpeg reported")
        out.seek(0)
        np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False,
                                                   "shape": (info.num_frames, info.height, info.width, 3)})
        if out.tell() != NPY_HEADER_BYTES:
            raise VideoError(f"{path}: a {info.width}x{info.height} video of {info.num_frames} frames does not "
                             f"fit a {NPY_HEADER_BYTES}-byte .npy header")
    return info, np.load(target, mmap_mode="r")


def read_frames(path: str, info: VideoInfo | None = None, *, fps: float | None = None, start: float = 0.0,
                duration: float | None = None) -> Iterator[np.ndarray]:
    """Yields (H, W, 3) uint8 RGB frames one at a time; memory stays at about one frame.

    Pass the VideoInfo if you already probed, to skip the probe. Closing the generator early
    (or breaking out of a for loop) stops ffmpeg. With `fps`, frames are resampled by their time
    stamps to that constant rate (frame i shows the source frame on screen at time i / fps), and
    `start` / `duration` (seconds) read only that span of the video.
    """
    info = info or probe_video(path)
    frame_bytes = info.width * info.height * 3
    rate = ["-vf", f"fps={Fraction(fps).limit_denominator(1001)}"] if fps else ["-fps_mode", "cfr"]
    command = [_ffmpeg(), "-nostdin", "-v", "error", *audio.ffmpeg_span(start, duration), "-i", path,
               "-map", "0:v:0", *rate, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=stderr, bufsize=frame_bytes)
        try:
            while True:
                data = process.stdout.read(frame_bytes)
                if len(data) < frame_bytes:
                    break
                yield np.frombuffer(data, np.uint8).reshape(info.height, info.width, 3)
            if process.wait() != 0 or data:
                stderr.seek(0)
                message = stderr.read().decode(errors="replace")
                raise VideoError(f"{path}: decoding failed ({_ffmpeg_reason(message, process.returncode)})")
        finally:
            if process.poll() is None:
                process.kill()
            process.stdout.close()
            process.wait()


def frame_schedule(num_video_frames: int, num_output_frames: int, mode: str = "pingpong") -> np.ndarray:
    """Source frame index for each output frame when the audio sets the output length.

    Shorter audio trims the video (its first frames, whatever the mode). Longer audio extends it:
    'pingpong' plays back and forth (0..n-1, n-2..1, 0..) so motion never jumps and no end frame
    shows twice in a row; 'loop' restarts at 0; 'freeze' holds the last frame.
    """
    if mode not in SCHEDULE_MODES:
        raise InvalidInputError(f"unknown frame schedule mode {mode!r}; expected one of {SCHEDULE_MODES}")
    if num_video_frames < 1:
        raise ValueError(f"need at least one video frame, got {num_video_frames}")
    if num_output_frames < 0:
        raise ValueError(f"negative number of output frames: {num_output_frames}")
    steps = np.arange(num_output_frames)
    n = num_video_frames
    if mode == "freeze" or num_output_frames <= n or n == 1:
        return np.minimum(steps, n - 1)
    if mode == "loop":
        return steps % n
    phase = steps % (2 * n - 2)
    return np.where(phase < n, phase, 2 * n - 2 - phase)


def check_output_path(path: str) -> None:
    """Fails fast, before any expensive work, if a video cannot be written to path."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise VideoError(f"{path}: output path is a directory")
    if not os.path.isdir(directory):
        raise VideoError(f"{path}: output directory {directory} does not exist")
    try:  # os.access is not the truth for root, ACLs or read-only mounts; a real file is
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise VideoError(f"{path}: output directory {directory} is not writable ({error.strerror})") from None


class VideoWriter:
    """Writes RGB frames to an H.264 mp4 at fps, optionally muxing an audio file as AAC.

    Usage: `with VideoWriter(out, fps, audio_path=wav) as w: w.write(frame)`. The size is taken
    from the first frame. The audio is cut to the video's length (or padded with silence).
    Even sizes are encoded yuv420p, the format every player takes. libx264 refuses yuv420p at
    odd widths or heights, so those are encoded yuv444p (High 4:4:4 profile): the exact source
    size and colours, playable by ffmpeg-based players (VLC, mpv, Chrome) but not by some
    hardware decoders or QuickTime; scale to an even size yourself if that matters.
    The file appears at `path` only after a successful close; on an exception inside the
    `with` block, or an ffmpeg failure, the temporary file is removed and `path` is untouched.
    """

    def __init__(self, path: str, fps: float, audio_path: str | None = None, crf: int = 18):
        check_output_path(path)
        if fps <= 0:
            raise VideoError(f"{path}: fps must be positive, got {fps}")
        if audio_path is not None and not os.path.isfile(audio_path):
            raise VideoError(f"{path}: audio file {audio_path} does not exist")
        if audio_path is not None and not _has_audio_stream(audio_path):
            raise VideoError(f"{path}: audio file {audio_path} has no audio stream")
        self.path = path
        self.fps = _exact_fps(f"{float(fps):.6f}".rstrip("0").rstrip("."))
        self.audio_path = audio_path
        self.crf = crf
        directory, name = os.path.split(os.path.abspath(path))
        self.temp_path = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:8]}.partial")
        self._video_path = self.temp_path if audio_path is None else self.temp_path + ".video"
        self.num_frames = 0
        self._size: tuple[int, int] | None = None
        self._process: subprocess.Popen | None = None
        self._stderr = tempfile.TemporaryFile()

    def _start(self, width: int, height: int) -> None:
        pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        command = [_ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{width}x{height}", "-framerate", str(self.fps), "-i", "-",
                   # Convert with the BT.709 matrix and tag the stream so players convert back alike.
                   "-vf", f"scale=out_color_matrix=bt709:out_range=tv,format={pix_fmt},"
                   "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
                   "-c:v", "libx264", "-crf", str(self.crf), "-movflags", "+faststart", "-f", "mp4",
                   self._video_path]
        self._size = (width, height)
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr)

    def _mux_audio(self) -> None:
        """Adds the audio, padded with silence and cut at the last frame's end.

        A second pass because only now the length is known; `-shortest` in the encoding pass
        overshoots by a timing-dependent amount. The video is copied, not re-encoded.
        """
        duration = self.num_frames / self.fps
        command = [_ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", self._video_path, "-i", self.audio_path,
                   "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "160k",
                   "-af", "apad", "-t", f"{float(duration):.6f}", "-movflags", "+faststart", "-f", "mp4",
                   self.temp_path]
        result = subprocess.run(command, stderr=self._stderr, check=False)
        if result.returncode != 0:
            raise self._error("adding the audio failed", result.returncode)

    def _error(self, what: str, returncode: int | None) -> VideoError:
        self._stderr.seek(0)
        message = self._stderr.read().decode(errors="replace")
        return VideoError(f"{self.path}: {what} ({_ffmpeg_reason(message, returncode)})")

    def write(self, frame: np.ndarray) -> None:
        """Appends one (H, W, 3) uint8 RGB frame."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}")
        if self._process is None:
            self._start(frame.shape[1], frame.shape[0])
        if (frame.shape[1], frame.shape[0]) != self._size:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the "
                             f"first frame's {self._size[0]}x{self._size[1]}")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            self._process.wait()
            raise self._error("ffmpeg stopped while encoding", self._process.returncode) from None
        self.num_frames += 1

    def close(self) -> None:
        """Finishes the encode and moves the file into place."""
        if self._process is None:
            raise VideoError(f"{self.path}: no frames were written")
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg already quit; its exit status and log say why
        if self._process.wait() != 0:
            raise self._error("encoding failed", self._process.returncode)
        if self.audio_path is not None:
            self._mux_audio()
            os.remove(self._video_path)
        os.replace(self.temp_path, self.path)
        self._stderr.close()

    def abort(self) -> None:
        """Stops ffmpeg and removes the partial file; the output path is left as it was."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            try:
                self._process.stdin.close()
            except BrokenPipeError:
                pass  # killed on purpose; nothing left to flush
            self._process.wait()
        for path in {self.temp_path, self._video_path}:
            if os.path.exists(path):
                os.remove(path)
        self._stderr.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            self.abort()
            raise


def write_video(path: str, frames: Iterable[np.ndarray], fps: float, audio_path: str | None = None) -> int:
    """Writes frames to an mp4 (see VideoWriter) and returns how many were written."""
    with VideoWriter(path, fps, audio_path=audio_path) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.num_frames


def extract_audio_track(video_path: str) -> np.ndarray:
    """The first audio stream of a video as 16 kHz mono float32, e.g. to re-dub a clip with its own speech.

    A header read first turns "no audio stream" into a plain VideoError instead of an ffmpeg
    mapping failure; decoding errors come from audio.load_audio as AudioError.
    """
    check_input(video_path)
    if not _has_audio_stream(video_path):
        raise VideoError(f"{video_path}: the video has no audio stream")
    return audio.load_audio(video_path, audio.SAMPLE_RATE)
