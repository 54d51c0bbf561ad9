#!/usr/bin/env bash
# Deletes the TPU VM slice.
source "$(dirname "$0")/common.sh"
gcloud compute tpus tpu-vm delete "$TPU" --project="$PROJECT" --zone="$ZONE" --quiet
