#!/usr/bin/env bash
# Creates the TPU VM slice. Usage: bash launch/create.sh [--dry_run]
# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh" "$@"
no_arguments
run gcloud compute tpus tpu-vm create "$TPU" --project="$PROJECT" --zone="$ZONE" \
  --accelerator-type="$ACCELERATOR" --version="$VERSION"
