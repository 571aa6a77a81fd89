"""A small synthetic results CSV in the harness's format (:data:`jacobench.bench.tidy.COLUMNS`).

Times follow ``time = C * model_macs ** SLOPE`` times log-normal noise, so a plotter that fits
log(time) against log(model_macs) should recover ``SLOPE``; ``model_seconds`` is the noiseless
time (jacfwd and jacrev are measured 1.5 times slower than it), and ``optimal_time`` runs like
``optimal``, ``OPTIMAL_TIME_FACTOR`` slower. Memory "measured" is the model plus noise. One row
is skipped and one is unstable, so those report sections have content.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

import jacobench as jb
from jacobench.bench import tidy

SLOPE = 0.9
C = 3e-10  # seconds at 1 MAC, so about 5e-4 s at 1e7 MACs
NOISE = 0.08  # sigma of log(time)
RUN_ID = "20261127T001500Z-test"
OPTIMAL_TIME_FACTOR = 1.04

COLUMNS = list(tidy.COLUMNS)  # the CSV's schema, in order
HESSIAN_COLUMNS = ["kind", "model_gradient_macs", "model_jax_hessian_macs", "mem_activations_bytes"]

ENGINES = [("explicit", "numpy"), ("explicit", "jax"), ("matrix_free", "jax")]
PROFILES = {
    "funnel": (512, 256, 128, 64, 8),
    "expanding": (8, 64, 128, 256, 512),
    "hourglass": (256, 64, 8, 64, 256),
    "diamond": (16, 128, 512, 128, 16),
    "constant": (128, 128, 128, 128, 128),
}
SCALES = {"s": 0.5, "m": 1.0}
CROSS_ENDS = (4, 16, 64, 256)  # d_0, d_L grid: d_0/d_L from 1/64 to 64
CROSS_WIDTH = 64
DEPTHS = (1, 2, 4, 8, 16)
DEPTH_WIDTH = 96
HESSIAN_CHAINS = {
    ("hessian-depth", "scalar", f"L={L}"): (16,) + (64,) * (L - 1) + (1,) for L in (2, 4, 8)
}
HESSIAN_CHAINS[("hessian-narrow", "narrow-near-input", "w=64,k=4")] = (64, 64, 4, 64, 64, 64, 1)
MAX_MACS = 10**7  # the synthetic grid's cap: fwd-over-fwd on the narrow chain is skipped


def _matrix_free_macs(widths: tuple[int, ...]) -> tuple[int, int]:
    inner = sum(a * b for a, b in zip(widths[1:], widths[:-1], strict=True))
    return widths[0] * inner, widths[-1] * inner


def _rows_for(engine: str, backend: str, sweep: str, profile: str, scale: str, widths, rng):
    widths = tuple(int(w) for w in widths)
    if engine == "explicit":
        strategies = ["forward", "reverse", "optimal", "optimal_time"]
        fwd, rev = jb.forward_macs(widths), jb.reverse_macs(widths)
    else:
        strategies = ["forward", "reverse", "optimal", "jacfwd", "jacrev", "optimal_time"]
        fwd, rev = _matrix_free_macs(widths)
    out = []
    for strategy in strategies:
        if engine == "explicit":
            p = jb.plan(widths, strategy.removesuffix("_time"))
            macs, formula, mem = p.macs, p.formula, p.memory_bytes("float32")
        else:
            base = {"forward": fwd, "jacfwd": fwd, "reverse": rev, "jacrev": rev}
            macs = base.get(strategy, min(fwd, rev))
            formula = "jvp" if strategy in ("forward", "jacfwd") else "vjp"
            mem = 4 * (widths[0] + widths[-1]) * max(widths) * (1 if strategy != "reverse" else 2)
        jit_penalty = 1.5 if strategy in ("jacfwd", "jacrev") else 1.0
        jit_penalty *= OPTIMAL_TIME_FACTOR if strategy == "optimal_time" else 1.0
        model_seconds = C * max(macs, 1) ** SLOPE
        t = model_seconds * jit_penalty * math.exp(rng.normal(0.0, NOISE))
        mem_source = "tracemalloc" if backend == "numpy" else "xla_memory_analysis"
        out.append(
            {
                "run_id": RUN_ID,
                "engine": engine,
                "backend": backend,
                "device": "cpu",
                "dtype": "float32",
                "sweep": sweep,
                "profile": profile,
                "scale": scale,
                "widths": "-".join(map(str, widths)),
                "depth": len(widths) - 1,
                "d_0": widths[0],
                "d_L": widths[-1],
                "strategy": strategy,
                "plan_formula": formula,
                "model_macs": macs,
                "model_forward_macs": fwd,
                "model_reverse_macs": rev,
                "model_seconds": model_seconds,
                "xla_flops": "nan" if backend == "numpy" else 2.0 * macs,
                "time_median_s": t,
                "time_min_s": 0.95 * t,
                "time_iqr_s": 0.03 * t,
                "rounds": 20,
                "unstable": False,
                "compile_s": "nan" if backend == "numpy" else 0.05,
                "mem_model_bytes": mem,
                "mem_measured_bytes": mem * (1.0 + abs(rng.normal(0.0, 0.05))) + 4096,
                "mem_source": mem_source,
                "max_abs_error": 1e-6,
                "status": "ok",
                "skip_reason": "",
            }
        )
    return out


def _hessian_rows(rng) -> list[dict]:
    """Engine ``hessian``: every HVP mode and Hessian strategy on a few scalar chains."""
    out = []
    for (sweep, profile, scale), widths in HESSIAN_CHAINS.items():
        cases = [("hvp", m) for m in jb.second_order.HVP_STRATEGIES]
        cases += [("hessian", s) for s in jb.second_order.STRATEGIES]
        for kind, name in cases:
            p = jb.plan_hvp(widths, name) if kind == "hvp" else jb.plan_hessian(widths, name)
            t = C * p.macs**SLOPE * math.exp(rng.normal(0.0, NOISE))
            mem = p.memory_bytes("float32")
            row = {
                "run_id": RUN_ID,
                "engine": "hessian",
                "backend": "jax",
                "device": "cpu",
                "dtype": "float32",
                "sweep": sweep,
                "profile": profile,
                "scale": scale,
                "widths": "-".join(map(str, widths)),
                "depth": len(widths) - 1,
                "d_0": widths[0],
                "d_L": 1,
                "strategy": f"hvp:{name}" if kind == "hvp" else name,
                "plan_formula": p.formula,
                "model_macs": p.macs,
                "xla_flops": 2.04 * p.macs,
                "time_median_s": t,
                "time_min_s": 0.95 * t,
                "time_iqr_s": 0.03 * t,
                "rounds": 20,
                "unstable": False,
                "compile_s": 0.2,
                "mem_model_bytes": mem,
                "mem_measured_bytes": mem * (1.0 + abs(rng.normal(0.0, 0.05))),
                "mem_source": "xla_memory_analysis",
                "max_abs_error": 1e-6,
                "status": "ok",
                "skip_reason": "",
                "kind": kind,
                "model_gradient_macs": jb.plan_hvp(widths).gradient_macs,
                "model_jax_hessian_macs": jb.plan_hessian(widths, "jax.hessian").macs,
                "mem_activations_bytes": 4 * sum(widths),
            }
            if p.macs > MAX_MACS:
                row.update(
                    status="skipped",
                    skip_reason=f"model multiply-adds {p.macs:,} exceed the grid's cap "
                    f"{MAX_MACS:,}",
                    time_median_s="nan",
                    time_min_s="nan",
                    time_iqr_s="nan",
                    mem_measured_bytes="nan",
                )
            out.append(row)
    return out


def write_synthetic(directory: Path, *, seed: int = 0, sidecar: bool = True) -> Path:
    """Write ``directory/latest.csv`` (and the run's sidecar JSON); return the CSV's path."""
    rng = np.random.default_rng(seed)
    rows = []
    for engine, backend in ENGINES:
        for profile, base in PROFILES.items():
            for scale, factor in SCALES.items():
                widths = [max(1, round(w * factor)) for w in base]
                rows += _rows_for(engine, backend, "profiles", profile, scale, widths, rng)
        for d0 in CROSS_ENDS:
            for dl in CROSS_ENDS:
                widths = [d0, CROSS_WIDTH, CROSS_WIDTH, CROSS_WIDTH, dl]
                rows += _rows_for(engine, backend, "crossover", "crossover", "m", widths, rng)
        for depth in DEPTHS:
            widths = [DEPTH_WIDTH] * (depth + 1)
            rows += _rows_for(engine, backend, "depth", "depth", "m", widths, rng)
    unstable = next(  # explicit/numpy, funnel at scale m, optimal
        r for r in rows if (r["scale"], r["profile"], r["strategy"]) == ("m", "funnel", "optimal")
    )
    unstable["unstable"] = True
    unstable["time_iqr_s"] = 0.3 * unstable["time_median_s"]
    skipped = rows[-1]
    skipped.update(
        status="skipped",
        skip_reason="predicted memory 12.0 GiB exceeds budget 11.7 GiB",
        time_median_s="nan",
        time_min_s="nan",
        time_iqr_s="nan",
        mem_measured_bytes="nan",
        mem_source="",
    )
    rows += _hessian_rows(rng)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "latest.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS + HESSIAN_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    if sidecar:
        meta = {
            "run_id": RUN_ID,
            "grid": "test",
            "timestamp_utc": "2026-11-27T00:15:00Z",
            "versions": {"python": "3.11.9", "jax": "0.4.35", "numpy": "2.1.0"},
            "cpu_model": "Synthetic CPU",
            "cpu_count": 2,
            "device": "cpu",
            "env": {"OMP_NUM_THREADS": "1"},
            "git": {"commit": "0123456789abcdef", "dirty": False},
            "csv": str(path),
            "raw_json": "results/raw.json",
        }
        (directory / f"{RUN_ID}.json").write_text(json.dumps(meta))
    return path
