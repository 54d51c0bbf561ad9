#!/usr/bin/env bash
# Shared settings for the Cloud TPU scripts; override through the environment.
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${ZONE:?set ZONE}"
TPU=${TPU:-diffdub}
ACCELERATOR=${ACCELERATOR:-v4-32}
VERSION=${VERSION:-tpu-ubuntu2204-base}
REPO=${REPO:-https://github.com/YOUR_ORG/diffdub-jax.git}
on_all_workers() {
  gcloud compute tpus tpu-vm ssh "$TPU" --project="$PROJECT" --zone="$ZONE" --worker=all --command="$1"
}
