#!/usr/bin/env bash
# Creates the TPU VM slice.
source "$(dirname "$0")/common.sh"
gcloud compute tpus tpu-vm create "$TPU" --project="$PROJECT" --zone="$ZONE" \
  --accelerator-type="$ACCELERATOR" --version="$VERSION"
