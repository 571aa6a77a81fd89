#!/usr/bin/env bash
# The GPU benchmark run: `make bench GRID=large` on one accelerator, well inside 8 minutes.
#
# Run from the repository root, with no install (PYTHON: the interpreter, default `python`; the
# machine needs jax[cuda], numpy, pandas, matplotlib, pytest and pytest-benchmark):
#
#     OUT=/some/folder bash scripts/gpu_check.sh
#
# Writes results/ (CSV, raw JSON, sidecar, REPORT.md) and plots/ under "$OUT", then prints the
# speedup table of the matrix-free optimal plans against the faster of jax.jacfwd / jax.jacrev
# (also saved as "$OUT/speedups.md"). Float32 at matmul precision "highest" (true float32, not
# TF32). The harness first measures the GPU's device profile (jacobench calibrate, about a
# minute; PROFILE=none skips it, PROFILE=<path> reuses one) for the time model's model_seconds
# and the optimal_time rows. Rows not started TIME_LIMIT seconds (default 270) after the suites
# began are recorded as skipped, a row that runs out of device memory or past 60 s is recorded as
# skipped with the reason, and the run goes on. JAX's persistent compilation cache lives outside
# "$OUT" (JAX_CACHE, default /tmp/jacobench-jax-cache), so a second run on the same machine
# compiles nothing.
set -euo pipefail

OUT="${OUT:?set OUT to the folder the results go to}"
TIME_LIMIT="${TIME_LIMIT:-270}"
PROFILE="${PROFILE:-auto}"
JAX_CACHE="${JAX_CACHE:-/tmp/jacobench-jax-cache}"
MEMORY_BUDGET="${MEMORY_BUDGET:-40GiB}"  # within the 75% of an 80 GB GPU that JAX takes
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"

PY="${PYTHON:-python}"
start=$(date +%s)
"$PY" - <<'EOF'
import jax
print("jacobench gpu_check: jax", jax.__version__, "devices", jax.devices(), flush=True)
EOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

status=0
"$PY" -m jacobench.bench.harness --grid large --matmul-precision highest --profile "$PROFILE" \
    --results-dir "$OUT/results" --plots-dir "$OUT/plots" \
    --memory-budget "$MEMORY_BUDGET" --time-limit "$TIME_LIMIT" --jax-cache-dir "$JAX_CACHE" \
    -- -q --timing-target=0.2 --row-time-limit=60 \
    || status=$?

echo
echo "jacobench gpu_check: harness exit status $status after $(( $(date +%s) - start )) s"
if [ -f "$OUT/results/latest.csv" ]; then
    "$PY" -m jacobench.bench.speedups "$OUT/results/latest.csv" --markdown > "$OUT/speedups.md"
    "$PY" -m jacobench.bench.speedups "$OUT/results/latest.csv"
    "$PY" - "$OUT/results/latest.csv" <<'EOF'
import sys
import pandas as pd
df = pd.read_csv(sys.argv[1])
print("\nrows by status:", df["status"].value_counts().to_dict())
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
exit "$status"
