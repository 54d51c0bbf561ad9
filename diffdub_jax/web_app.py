"""The dubbing web page (Gradio): a video and a speech file in, the dub and source | dub out.

Models load once when the app starts; requests queue one at a time on the models (the page shows
a request's place in the queue) and show each phase's progress. A bad input shows the message the
command line gives, in the page, and the app goes on serving. Results are written under a
folder per request, removed after an hour as Gradio removes the copies it served.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from diffdub_jax.data.video import SCHEDULE_MODES
from diffdub_jax.errors import MissingFileError, UserError
from diffdub_jax.inference.comparison import write_side_by_side
from diffdub_jax.inference.dub import dub
from diffdub_jax.inference.models import DubbingModels
from diffdub_jax.inference.prepared import PreparedVideos
from diffdub_jax.serving.motion_service import REFERENCE_MODES

CLEANUP = (3600, 3600)  # Gradio deletes files it served every hour, those older than an hour


def _remove_older_than(root: str, seconds: float) -> None:
    """Removes root's request folders older than seconds (Gradio has served its copies by then)."""
    now = time.time()
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if now - os.path.getmtime(path) > seconds:
            shutil.rmtree(path, ignore_errors=True)


def build_app(models: DubbingModels, prepared_videos: PreparedVideos | None = None, **defaults):
    """The page as a gradio.Blocks; defaults: `dub`'s options the page starts from (seed, ...)."""
    try:
        import gradio as gr  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise MissingFileError("the web app needs gradio: pip install -e '.[app]'") from error

    default_steps = models.renderer.num_steps
    results = tempfile.mkdtemp(prefix="diffdub_app_")  # one folder per request; Gradio serves copies

    def run(video_path, speech_path, reference, mode, extend, sample_steps, progress=gr.Progress(track_tqdm=True)):
        if not video_path:
            raise gr.Error("Upload a video first.")
        _remove_older_than(results, CLEANUP[1])
        output_dir = tempfile.mkdtemp(dir=results)
        name = os.path.splitext(os.path.basename(video_path))[0]
        dubbed, compared = os.path.join(output_dir, f"{name}_dubbed.mp4"), os.path.join(output_dir, f"{name}_vs.mp4")
        try:
            models.renderer.num_steps = int(sample_steps or default_steps)  # one request at a time
            progress(0, desc="preparing")
            result = dub(video_path, dubbed, models, audio_path=speech_path or None, reference=reference.strip() or "auto",
                         mode=mode, extend=extend, prepared_videos=prepared_videos, **defaults)
            progress(0.95, desc="source | dub")
            write_side_by_side(video_path, dubbed, result.schedule, compared)
        except UserError as error:
            raise gr.Error(str(error)) from None
        status = (f"{result.num_frames} frames at {result.fps:g} fps, {result.width}x{result.height}; reference frame "
                  f"{result.reference_frame}; {sum(result.timings.values()):.1f} s"
                  + (" (the video's preparation was reused)" if result.prepared_from_cache else ""))
        return dubbed, compared, status

    with gr.Blocks(title="DiffDub", delete_cache=CLEANUP) as page:
        gr.Markdown("# DiffDub\nA talking-face video and new speech in: only the lower face is redrawn, so the "
                    "lips follow the speech.")
        with gr.Row():
            video_in = gr.Video(label="Video", sources=["upload"], elem_id="video")
            speech_in = gr.File(label="Speech (audio, or a video whose sound is used)", type="filepath",
                                elem_id="speech")
        with gr.Accordion("Options", open=False):
            reference = gr.Textbox("auto", label="Reference frame: auto, first or a frame index")
            mode = gr.Radio(list(REFERENCE_MODES), value="few_shot", label="References (few-shot: 3 s of frames)")
            extend = gr.Dropdown(list(SCHEDULE_MODES), value="pingpong", label="Video shorter than the speech")
            steps = gr.Number(default_steps, precision=0, minimum=1, label="Sampler steps")
        button = gr.Button("Dub", variant="primary", elem_id="dub")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            dubbed_out = gr.Video(label="Dub", elem_id="dubbed")
            compared_out = gr.Video(label="Source | dub", elem_id="compared")
        button.click(run, [video_in, speech_in, reference, mode, extend, steps], [dubbed_out, compared_out, status],
                     concurrency_limit=1)
    return page.queue()
