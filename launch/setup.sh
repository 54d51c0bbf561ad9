#!/usr/bin/env bash
# Clones the repository and installs it with TPU JAX on every worker.
# Usage: bash launch/setup.sh [--dry_run]
# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh" "$@"
no_arguments
repo=$(printf '%q' "$REPO")
on_all_workers "set -e; test -d diffdub-jax || git clone $repo diffdub-jax; cd diffdub-jax && git pull && \
python3 -m venv .venv && .venv/bin/pip install -U pip && .venv/bin/pip install -e . 'jax[tpu]'"
