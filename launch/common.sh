#!/usr/bin/env bash
# Shared settings and helpers for the Cloud TPU scripts; override the settings through the
# environment. Each script sources it with its own arguments: a leading --dry_run (or DRY_RUN=1)
# prints every gcloud command, quoted, instead of running it; the rest are left in ARGS.
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${ZONE:?set ZONE}"
TPU=${TPU:-diffdub}
ACCELERATOR=${ACCELERATOR:-v4-32}
VERSION=${VERSION:-tpu-ubuntu2204-base}
REPO=${REPO:-https://github.com/YOUR_ORG/diffdub-jax.git}
DRY_RUN=${DRY_RUN:-0}
if [[ ${1-} == --dry_run ]]; then
  DRY_RUN=1
  shift
fi
ARGS=("$@")

# One shell word, single-quoted unless it is plainly safe.
quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# Runs a command, or with DRY_RUN=1 prints it as `+ cmd 'arg' ...` on one line.
run() {
  if [[ $DRY_RUN == 1 ]]; then
    local line=+ word
    for word in "$@"; do
      line+=" $(quote "$word")"
    done
    printf '%s\n' "$line"
  else
    "$@"
  fi
}

# Fails with a usage line unless the script was given no arguments besides --dry_run.
no_arguments() {
  if ((${#ARGS[@]})); then
    printf 'usage: %s [--dry_run]  (settings come from the environment)\n' "$0" >&2
    exit 2
  fi
}

# Runs a shell command line on every worker of the slice.
on_all_workers() {
  run gcloud compute tpus tpu-vm ssh "$TPU" --project="$PROJECT" --zone="$ZONE" --worker=all --command="$1"
}
