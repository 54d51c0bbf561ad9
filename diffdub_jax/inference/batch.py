"""Many dubs with one load of the models: a manifest of jobs, each dubbed or its error recorded.

A manifest is CSV (a header naming the columns) or JSON lines, one job per row: `video`, and
optionally `audio` (default: the video's own track) and `output` (default: OUTPUT_DIR/<video's
name>.mp4; relative paths are taken from the manifest's folder). Jobs share the models and their
compiled programs; a job that fails is recorded with its one-line error and the others go on; an
output already written (dubs are written whole or not at all) is skipped unless overwrite.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
import traceback
from typing import Sequence

from absl import logging
from etils import epath
from tqdm import tqdm

from diffdub_jax.data import files
from diffdub_jax.errors import InvalidInputError, MissingFileError, UserError
from diffdub_jax.inference.dub import dub
from diffdub_jax.inference.models import DubbingModels, ModelSpec

SUMMARY = "summary.json"
COLUMNS = ("video", "audio", "output")


@dataclasses.dataclass(frozen=True)
class Job:
    video: str
    audio: str | None
    output: str


def _rows(path: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    if path.endswith((".jsonl", ".json")):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise InvalidInputError(f"{path}:{number}: not a JSON object ({error.msg})") from None
                if not isinstance(rows[-1], dict):
                    raise InvalidInputError(f"{path}:{number}: a job is a JSON object with 'video'")
        return rows
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "video" not in reader.fieldnames:
        raise InvalidInputError(f"{path}: a CSV manifest starts with a header naming its columns, 'video' among "
                                f"them (and optionally 'audio', 'output'); found {reader.fieldnames}")
    return list(reader)


def read_manifest(path: str, output_dir: str) -> list[Job]:
    """The jobs of a CSV or JSON-lines manifest; InvalidInputError naming the row of a bad one."""
    if not os.path.isfile(path):
        raise MissingFileError(f"manifest {path} does not exist")
    base = os.path.dirname(os.path.abspath(path))

    def resolved(value: str | None) -> str | None:
        return value if not value or files.is_url(value) or os.path.isabs(value) else os.path.join(base, value)

    jobs, outputs = [], {}
    for number, row in enumerate(_rows(path), 1):
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown or not row.get("video"):
            raise InvalidInputError(f"{path}: job {number} needs a 'video' and knows only {list(COLUMNS)}; it has "
                                    f"{sorted(row)}")
        video = resolved(row["video"])
        name = os.path.splitext(os.path.basename(video))[0] + ".mp4"
        output = resolved(row.get("output")) or os.path.join(output_dir, name)
        if output in outputs:
            raise InvalidInputError(f"{path}: jobs {outputs[output]} and {number} would both write {output}; give "
                                    f"one an 'output'")
        outputs[output] = number
        jobs.append(Job(video, resolved(row.get("audio")) or None, output))
    if not jobs:
        raise InvalidInputError(f"{path}: no jobs")
    return jobs


def dub_job(job: Job, models: DubbingModels, *, overwrite: bool = False, **options) -> dict:
    """One job's summary entry: dubbed (frames, fps), skipped (its output exists) or failed (the
    error in one line: a bad input's message, or a bug's type and message, logged with its trace)."""
    entry = {"video": job.video, "audio": job.audio, "output": job.output}
    tick = time.perf_counter()
    if not overwrite and epath.Path(job.output).is_file():
        entry["status"] = "skipped"
    else:
        try:
            if not files.is_url(job.output):
                os.makedirs(os.path.dirname(os.path.abspath(job.output)), exist_ok=True)
            result = dub(job.video, job.output, models, audio_path=job.audio, **options)
            entry.update(status="dubbed", frames=result.num_frames, fps=result.fps)
        except UserError as error:
            entry.update(status="failed", error=str(error))
        except Exception as error:  # pylint: disable=broad-except  # a bug in one job must not end the batch
            logging.error("job %s failed:\n%s", job.video, traceback.format_exc())
            entry.update(status="failed", error=f"{type(error).__name__}: {error}")
    entry["seconds"] = round(time.perf_counter() - tick, 2)
    return entry


def write_summary(entries: Sequence[dict], output_dir: str) -> dict:
    """The jobs' entries (in manifest order) and their counts, written to output_dir/SUMMARY."""
    counts = {status: sum(entry["status"] == status for entry in entries) for status in ("dubbed", "skipped", "failed")}
    summary = {**counts, "jobs": list(entries)}
    epath.Path(output_dir).mkdir(parents=True, exist_ok=True)
    files.write_json(str(epath.Path(output_dir) / SUMMARY), summary)
    return summary


def run_jobs(jobs: Sequence[Job], models: DubbingModels, output_dir: str, *, overwrite: bool = False,
             **options) -> dict:
    """Dubs the jobs one after another with one set of models (options: `dub`'s); returns and
    writes the summary."""
    entries = []
    progress = tqdm(jobs, desc="jobs", unit="job")
    for job in progress:
        entries.append(dub_job(job, models, overwrite=overwrite, **options))
        progress.set_postfix(failed=sum(entry["status"] == "failed" for entry in entries))
    return write_summary(entries, output_dir)


def run_jobs_on_beam(jobs: Sequence[Job], spec: ModelSpec, output_dir: str, beam_args: Sequence[str] = (), *,
                     overwrite: bool = False, **options) -> dict:
    """The same jobs as an Apache Beam pipeline (DirectRunner by default; Dataflow, Spark or Flink
    by beam_args): each worker loads the models once, the summary is written as run_jobs writes it."""
    try:
        import apache_beam as beam  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise MissingFileError("dub_batch --beam needs apache-beam: pip install -e '.[beam]'") from error

    class DubJobs(beam.DoFn):
        def setup(self):
            self.models = spec.load()  # pylint: disable=attribute-defined-outside-init

        def process(self, numbered):
            number, job = numbered
            yield number, dub_job(job, self.models, overwrite=overwrite, **options)

    with beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(flags=list(beam_args))) as pipeline:
        _ = (pipeline
             | "jobs" >> beam.Create(list(enumerate(jobs)))
             | "dub" >> beam.ParDo(DubJobs())
             | "all" >> beam.combiners.ToList()
             | "summary" >> beam.Map(lambda numbered: write_summary([entry for _, entry in sorted(numbered)],
                                                                     output_dir)))
    return json.loads(epath.Path(output_dir, SUMMARY).read_text())
