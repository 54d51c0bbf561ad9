"""Dubs every job of a manifest with one load of the models.

    python -m diffdub_jax.dub_batch --manifest=jobs.csv --output_dir=dubs \
        --renderer_workdir=runs/renderer --motion_workdir=runs/motion

jobs.csv (or .jsonl, one JSON object per line) has a `video` column and optionally `audio` and
`output` (see inference.batch); infer's model and dubbing flags apply to every job. Each job's
result or one-line error goes to OUTPUT_DIR/summary.json; the others go on, and the command exits
1 if any failed. A rerun skips outputs already written, unless --overwrite.
"""

import sys

from absl import flags

from diffdub_jax import cli, dub_flags
from diffdub_jax.inference import batch

_MANIFEST = flags.DEFINE_string("manifest", None, "CSV or JSON-lines manifest: video[, audio][, output] per job.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where dubs without an 'output' and summary.json go.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Dub again jobs whose output exists.")
flags.mark_flags_as_required(["manifest", "output_dir"])


def main(argv):
    del argv
    jobs = batch.read_manifest(_MANIFEST.value, _OUTPUT_DIR.value)
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
