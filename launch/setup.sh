#!/usr/bin/env bash
# Clones the repository and installs it with TPU JAX on every worker.
source "$(dirname "$0")/common.sh"
on_all_workers "set -e; test -d diffdub-jax || git clone $REPO diffdub-jax; cd diffdub-jax && git pull && \
  python3 -m venv .venv && .venv/bin/pip install -U pip && .venv/bin/pip install -e . 'jax[tpu]'"
