"""Where a matrix-free plan's time goes: each XLA operation of its compiled program, timed in place.

Run from a checkout::

    .venv/bin/python scripts/trace_ops.py 1536-1536-12-1536-1536 optimal
    .venv/bin/python scripts/trace_ops.py 512-512-16-512-512 jacfwd 16   # jax.vmap over 16 points

The program (``jax.jit`` of :func:`jacobench.jacobian` on ``jb.mlp(widths)``, or of its
``jax.vmap`` over ``POINTS`` points) is compiled with XLA's per-operation trace events
(``xla_cpu_enable_xprof_traceme``), warmed up, then called ``CALLS`` times (default 100) under
:func:`jax.profiler.trace`; the trace is read back with :class:`jax.profiler.ProfileData`. Printed:
the seconds of a call untraced and traced, then each operation's microseconds per call (its events
summed over the host threads that ran it), largest first. The operations are XLA's (fusions,
``dot``), after fusion, so the time model's operations (:func:`jacobench.timing.predict.explain`,
printed after them where ``results/profiles`` holds a profile of this device) map onto them by
their shapes, not one to one. Operations that run concurrently on different threads overlap: their
sum can exceed the call.

It times as the benchmark does: unless ``GLIBC_TUNABLES`` is set, it runs itself again with the
suites' (:data:`jacobench.bench.harness.MALLOC_TUNABLES`).
"""

import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jacobench as jb
from jacobench.bench.harness import with_malloc_tunables
from jacobench.timing import predict
from jacobench.timing.store import default_path, load


def main() -> None:
    """Print the table."""
    with_malloc_tunables()
    if len(sys.argv) < 3:
        sys.exit(
            "usage: trace_ops.py WIDTHS STRATEGY [POINTS] (e.g. 1000-1000-10-1000-1000 optimal)"
        )
    widths = tuple(int(v) for v in sys.argv[1].split("-"))
    strategy, points = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1
    calls = int(os.environ.get("CALLS", "100"))
    net = jb.mlp(widths, seed=0)
    shape = (points, widths[0]) if points > 1 else (widths[0],)
    x = jnp.asarray(np.random.default_rng(1).standard_normal(shape), jnp.float32)

    def one(v: jax.Array) -> jax.Array:
        return jb.jacobian(net, v, strategy)

    program = jax.jit(jax.vmap(one) if points > 1 else one)
    options = {"xla_cpu_enable_xprof_traceme": True}
    compiled = program.lower(x).compile(compiler_options=options)
    for _ in range(max(10, calls // 5)):
        jax.block_until_ready(compiled(x))
    start = time.perf_counter()
    for _ in range(calls):
        jax.block_until_ready(compiled(x))
    untraced = (time.perf_counter() - start) / calls
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            start = time.perf_counter()
            for _ in range(calls):
                jax.block_until_ready(compiled(x))
            traced = (time.perf_counter() - start) / calls
        trace = next(Path(folder).rglob("*.xplane.pb"))
        data = jax.profiler.ProfileData.from_file(str(trace))
    seconds: dict[str, float] = collections.defaultdict(float)
    skip = ("end:", "Threadpool", "ThunkExecutor", "SlinkyThreadPool")
    for plane in data.planes:
        for line in plane.lines:
            if "XLAEigen" not in line.name and "PjRtCpuClient" not in line.name:
                continue  # XLA's own threads run the operations
            for event in line.events:
                if not event.name.startswith(skip):
                    seconds[event.name] += event.duration_ns * 1e-9 / calls
    print(f"{jax.devices()[0]}, jax {jax.__version__}: {widths}, {strategy}, points {points}")
    print(f"a call: {untraced * 1e3:.3f} ms untraced, {traced * 1e3:.3f} ms traced")
    if not seconds:
        print("no per-operation events (XLA ran it as one small call; larger chains have them)")
    print("| XLA operation | us per call |\n|---|---|")
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {s * 1e6:.1f} |")
    print(f"| (sum) | {sum(seconds.values()) * 1e6:.1f} |")
    path = default_path()
    if path.exists():
        plan = jb.plan_matrix_free(widths, strategy)
        steps = predict.explain(plan, load(path), points=points)
        print(f"\nthe time model ({path}): {sum(s for _, s in steps) * 1e3:.3f} ms")
        for op, s in steps:
            if s >= 1e-6:
                print(f"  {s * 1e6:8.1f} us  {op.kind} {op.shape}  {op.label}")


if __name__ == "__main__":
    main()
