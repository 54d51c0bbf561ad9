#!/usr/bin/env bash
# Runs training on every worker of the slice; the arguments after an optional leading --dry_run
# go to `python -m diffdub_jax.train --multihost`, each quoted for the workers' shell.
# Usage: bash launch/train.sh [--dry_run] --config=... --workdir=gs://... [more train flags]
# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh" "$@"
args=""
if ((${#ARGS[@]})); then
  args=$(printf ' %q' "${ARGS[@]}")
fi
on_all_workers "cd diffdub-jax && .venv/bin/python -m diffdub_jax.train --multihost$args"
