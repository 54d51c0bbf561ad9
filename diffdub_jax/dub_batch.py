"""Dubs every job of a manifest with one load of the models.

    python -m diffdub_jax.dub_batch --manifest=jobs.csv --output_dir=dubs \
        --renderer_workdir=runs/renderer --motion_workdir=runs/motion

jobs.csv (or .jsonl, one JSON object per line) has a `video` column and optionally `audio` and
`output` (see inference.batch); infer's model and dubbing flags apply to every job. Each job's
result or one-line error goes to OUTPUT_DIR/summary.json; the others go on, and the command exits
1 if any failed. A rerun skips outputs already written, unless --overwrite. With --beam the same
jobs run as an Apache Beam pipeline (DirectRunner; Dataflow, Spark or Flink by --beam_options),
the models loaded once per worker, inputs and outputs local or gs://.
"""

import sys

from absl import flags

from diffdub_jax import cli, dub_flags
from diffdub_jax.inference import batch

_MANIFEST = flags.DEFINE_string("manifest", None, "CSV or JSON-lines manifest: video[, audio][, output] per job.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where dubs without an 'output' and summary.json go.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Dub again jobs whose output exists.")
_BEAM = flags.DEFINE_bool("beam", False, "Run the jobs as an Apache Beam pipeline (pip install -e '.[beam]').")
_BEAM_OPTIONS = flags.DEFINE_list("beam_options", [], "Beam pipeline options, e.g. --runner=DataflowRunner,"
                                  "--project=P,--region=R,--temp_location=gs://B/tmp (default: DirectRunner).")
flags.mark_flags_as_required(["manifest", "output_dir", "renderer_workdir", "motion_workdir"])


def main(argv):
    del argv
    jobs = batch.read_manifest(_MANIFEST.value, _OUTPUT_DIR.value)
    if _BEAM.value:
        summary = batch.run_jobs_on_beam(jobs, dub_flags.model_spec(), _OUTPUT_DIR.value, _BEAM_OPTIONS.value,
                                         overwrite=_OVERWRITE.value, **dub_flags.dub_options())
    else:
        summary = batch.run_jobs(jobs, dub_flags.load_models(), _OUTPUT_DIR.value, overwrite=_OVERWRITE.value,
                                 **dub_flags.dub_options())
    for job in summary["jobs"]:
        if job["status"] == "failed":
            print(f"failed {job['video']}: {job['error']}")
    print(f"{summary['dubbed']} dubbed, {summary['skipped']} skipped, {summary['failed']} failed: "
          f"{_OUTPUT_DIR.value}/{batch.SUMMARY}")
    if summary["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
