#!/usr/bin/env bash
# Deletes the TPU VM slice. Usage: bash launch/teardown.sh [--dry_run]
# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh" "$@"
no_arguments
run gcloud compute tpus tpu-vm delete "$TPU" --project="$PROJECT" --zone="$ZONE" --quiet
