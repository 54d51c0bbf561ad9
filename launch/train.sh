#!/usr/bin/env bash
# Runs training on every worker of the slice; arguments go to `python -m diffdub_jax.train`.
source "$(dirname "$0")/common.sh"
on_all_workers "cd diffdub-jax && .venv/bin/python -m diffdub_jax.train --multihost $*"
