#!/usr/bin/env bash
# The GPU benchmark run: `make bench GRID=large` on one accelerator, set-up included, inside
# BUDGET seconds (default 540, under the 10 minutes the issue allows).
#
# Run from the repository root, with no install (PYTHON: the interpreter, default `python`; the
# machine needs jax[cuda], numpy, pandas, matplotlib, pytest and pytest-benchmark):
#
#     OUT=/some/folder bash scripts/gpu_check.sh
#
# Writes results/ (CSV, raw JSON, sidecar, REPORT.md, profiles/<device>.json) and plots/ under
# "$OUT" (the suites' output in "$OUT/harness.log"), then prints the speedup table of the matrix-free optimal plans against the faster of
# jax.jacfwd / jax.jacrev (also saved as "$OUT/speedups.md"). Float32 at matmul precision
# "highest" (true float32, not TF32).
#
# Steps, each bounded so that the whole run ends in time:
#   1. `jacobench calibrate` measures the device profile (numpy on the host, JAX on the GPU,
#      float32) for the time model's model_seconds and the optimal_time rows; its product
#      programs are compiled ahead on every host core. At most CALIBRATE_LIMIT seconds (default
#      150); if it does not finish, the run goes on without a profile (PROFILE=none skips it,
#      PROFILE=<path> reuses one).
#   2. The harness runs the suites of the large grid (matrix-free first, then explicit, functions,
#      second order). Each chain's programs are compiled ahead on the host's cores, twins are
#      compiled once, JAX's persistent compilation cache lives outside "$OUT" (JAX_CACHE, default
#      /tmp/jacobench-jax-cache). Rows not started by the time limit (what is left of BUDGET less
#      two minutes for the last row and the report) are recorded as skipped; a row that runs out
#      of device memory or past 60 s is recorded as skipped with the reason, and the run goes on.
#      Rows warm up for 0.05 s and optimal_time's contests take about 0.2 s (the CPU defaults are
#      0.1 and 0.5 s: the device budget is short).
#
# ARCHIVE=1 packs everything under "$OUT" into "$OUT/gpu_run.tgz" at the end (for a remote
# machine that hands back only a few files: the device tool of our sessions lost a run's CSV so).
#
# Measured on one H200 (2026-11-27, this script with the 5-point calibration grid): calibration
# 127 s; the suites then compiled each chain's programs in about 30 s (XLA's GPU autotuner, which
# times candidate kernels on the device, serialises the compiles the host threads start), so in
# a 265 s limit 43 matrix-free rows were measured and 452 rows were recorded as skipped. With
# JAX's persistent cache warm, the same rows compile in 0.03-0.05 s each.
set -uo pipefail

OUT="${OUT:?set OUT to the folder the results go to}"
BUDGET="${BUDGET:-540}"
CALIBRATE_LIMIT="${CALIBRATE_LIMIT:-150}"
PROFILE="${PROFILE:-auto}"
JAX_CACHE="${JAX_CACHE:-/tmp/jacobench-jax-cache}"
MEMORY_BUDGET="${MEMORY_BUDGET:-40GiB}"  # within the 75% of an 80 GB GPU that JAX takes
GRID="${GRID:-large}"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT/results/profiles"

PY="${PYTHON:-python}"
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
# XLA's GPU compiler times candidate kernels for every product (autotuning), which serialises on
# the one device and made each chain cost ~30 s to compile: use cuBLAS's own choice of algorithm
# instead (GPU_XLA_FLAGS="" keeps XLA's defaults; an XLA_FLAGS already set is left alone). The
# first program runs with the flags: an XLA that does not know them stops, and runs without.
GPU_XLA_FLAGS="${GPU_XLA_FLAGS---xla_gpu_autotune_level=0 --xla_gpu_enable_triton_gemm=false}"
hello='import jax, jax.numpy as j
(j.ones((64, 64)) @ j.ones((64, 64))).block_until_ready()
print("jacobench gpu_check: jax", jax.__version__, "devices", jax.devices(), flush=True)'
if [ -z "${XLA_FLAGS:-}" ] && [ -n "$GPU_XLA_FLAGS" ] && XLA_FLAGS="$GPU_XLA_FLAGS" "$PY" -c "$hello"; then
    export XLA_FLAGS="$GPU_XLA_FLAGS"
else
    [ -z "${XLA_FLAGS:-}" ] && [ -n "$GPU_XLA_FLAGS" ] && \
        echo "jacobench gpu_check: XLA does not take '$GPU_XLA_FLAGS'; its defaults are used"
    "$PY" -c "$hello"
fi
echo "jacobench gpu_check: XLA_FLAGS='${XLA_FLAGS:-}'"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

if [ "$PROFILE" = "auto" ]; then
    PROFILE="$OUT/results/profiles/$("$PY" -c 'from jacobench.timing import default_path; print(default_path().name)')"
    if [ ! -f "$PROFILE" ]; then
        timeout -s INT "$CALIBRATE_LIMIT" "$PY" -m jacobench calibrate --dtype float32 \
            --matmul-precision highest --output "$PROFILE" || {
            echo "jacobench gpu_check: calibration did not finish in $CALIBRATE_LIMIT s; no profile"
            PROFILE=none
        }
    fi
fi
echo "jacobench gpu_check: profile $PROFILE after $(elapsed) s"

TIME_LIMIT=$(( BUDGET - $(elapsed) - 120 ))
[ "$TIME_LIMIT" -lt 30 ] && TIME_LIMIT=30
status=0
"$PY" -m jacobench.bench.harness --grid "$GRID" --matmul-precision highest --profile "$PROFILE" \
    --results-dir "$OUT/results" --plots-dir "$OUT/plots" \
    --memory-budget "$MEMORY_BUDGET" --time-limit "$TIME_LIMIT" --jax-cache-dir "$JAX_CACHE" \
    -- -q --timing-target=0.2 --warmup-seconds=0.05 --contest-seconds=0.2 --row-time-limit=60 \
    --durations=40 > "$OUT/harness.log" 2>&1 \
    || status=$?
grep -E "^jacobench" "$OUT/harness.log" | tail -n 20

echo
echo "jacobench gpu_check: harness exit status $status after $(elapsed) s (suites' limit $TIME_LIMIT s)"
if [ -f "$OUT/results/latest.csv" ]; then
    "$PY" -m jacobench.bench.speedups "$OUT/results/latest.csv" --markdown > "$OUT/speedups.md"
    "$PY" -m jacobench.bench.speedups "$OUT/results/latest.csv"
    "$PY" - "$OUT/results/latest.csv" <<'EOF'
import sys
import pandas as pd
df = pd.read_csv(sys.argv[1])
print("\nrows by status:", df["status"].value_counts().to_dict())
print("rows by engine and status:", df.groupby(["engine", "status"]).size().to_dict())
print("compile seconds, total:", round(float(df["compile_s"].fillna(0).sum()), 1))
bad = df[df["status"] != "ok"]
why = bad["status"] + ": " + bad["skip_reason"].fillna("").str.replace(r"\d[\d.,]*", "N", regex=True)
for reason, n in why.value_counts().items():
    print(f"  {n:4d} x {reason[:150]}")
for _, r in bad[bad["status"] == "failed"].head(10).iterrows():
    print(f"  failed: {r['engine']} {r['strategy']} {r['widths']} B={r.get('batch', 1)}: "
          f"{r['skip_reason']}")
EOF
fi
echo "jacobench gpu_check: done after $(elapsed) s"
if [ "${ARCHIVE:-0}" = "1" ]; then
    pack="$(mktemp -d)/gpu_run.tgz"  # outside "$OUT", which tar must not see change
    (tar czf "$pack" -C "$OUT" . && find "$OUT" -mindepth 1 -delete && mv "$pack" "$OUT/") \
        || echo "jacobench gpu_check: could not archive $OUT"
fi
exit "$status"
