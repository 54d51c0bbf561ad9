#!/usr/bin/env bash
# The GPU measurements of issue 19 in one run, on a machine with CUDA JAX and this package installed:
# the 256 px render grid (samplers x batch x dtype, bf16 vs f32 on the same frames), then `infer`
# end to end twice (the second from the compilation cache). Not yet run whole: its batch-32 rows took
# 197 s on an H200 (2026-12-01).
# Usage: bash benchmarks/gpu.sh [OUTPUT_DIR [more benchmarks/infer.py flags, e.g. --video= --detections=]]
set -euo pipefail
out=${1:-gpu_benchmarks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python benchmarks/renderer.py --presets=real --measure=render \
  --samplers=ddim:20,dpm_solver_2m:10,dpm_solver_2m:5 --render_batches=32,8,1 --dtypes=bfloat16,float32 \
  --repeats=2 2>&1 | tee "$out/render.log"
rm -rf /tmp/bench_infer
for dtype in bfloat16 float32; do
  python benchmarks/infer.py --workdir=/tmp/bench_infer --compute_dtype="$dtype" --batch_size=32 --runs=2 \
    "${@:2}" 2>&1 | tee "$out/infer_$dtype.log"
done
