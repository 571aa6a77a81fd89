"""The issue's four CPU rows: delivered vs predicted speedup of the optimal matrix-free plan.

Run from a checkout (``.venv/bin/python scripts/hourglass_speedups.py``, ``REPS=9`` bursts by
default); prints a Markdown table. For each chain (one point, or ``jax.vmap`` over 16), the
optimal plan, ``jax.jacfwd`` and ``jax.jacrev`` are compiled once, then timed in paired bursts
(the optimal plan best of 5 calls, each baseline one call a burst): *delivered* is the median over
bursts of (faster baseline / optimal), *predicted* the MAC ratio of the faster mode to the plan.
*Work* is the multiply-adds the faster baseline's program runs over the optimal plan's
(:func:`jacobench.bench.speedups.executed_macs`; XLA's cost analysis of the compiled programs
agrees) and *of work* the delivered speedup over that: jacfwd's first product (the first layer
times the identity) is the same for every point, so ``jax.vmap`` leaves it unbatched and it runs
once for the whole batch: jacfwd runs about half its MAC count on the batched row.

The roofline bound, measured in the same process between the bursts (best of a few):
  GEMM rate = a 2048^3 float32 product, multiply-adds per second;
  move time = a program that reads every weight once and writes a result of the Jacobians' shape;
  bound     = max(the plan's multiply-adds at the GEMM rate, the move time).
The last column is the median GEMM rate over the row's bursts: this 2-core VM has stretches in
which everything, that product included, runs up to twice as slowly, and the optimal plans'
memory-bound products lose more then than the baselines' large ones (fractions drop by half).
Compare rows only at a like GEMM rate.
It times as the benchmark does: unless ``GLIBC_TUNABLES`` is set, it runs itself again with the
suites' (``jacobench.bench.harness.MALLOC_TUNABLES``).
"""

import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import jacobench as jb
from jacobench.bench.harness import with_malloc_tunables
from jacobench.bench.speedups import executed_macs

ROWS = [
    ((2048, 1024, 24, 1536, 2048), 1),
    ((1536, 1536, 12, 1536, 1536), 1),
    ((1000, 1000, 10, 1000, 1000), 1),
    ((768, 1024, 16, 1024, 768), 16),
]


def once(f, *args):
    """Seconds of one call, to the end of its result."""
    start = time.perf_counter()
    jax.block_until_ready(f(*args))
    return time.perf_counter() - start


def best(f, *args, n=5):
    """The least of ``n`` calls' seconds."""
    return min(once(f, *args) for _ in range(n))


def mover(net, x, batch):
    """A program reading every weight once and writing a Jacobian-shaped result."""
    weights = [layer.weight for layer in net.layers]
    d = net.widths
    shape = (batch, d[-1], d[0]) if batch > 1 else (d[-1], d[0])

    def f(weights, x):
        total = sum(jnp.sum(w) for w in weights)
        return jnp.broadcast_to(total + jnp.sum(x), shape)

    compiled = jax.jit(f).lower(weights, x).compile()
    return lambda: compiled(weights, x)


def main() -> None:
    """Print the table."""
    with_malloc_tunables()
    reps = int(os.environ.get("REPS", "9"))
    a = jnp.asarray(np.random.default_rng(0).standard_normal((2048, 2048)), jnp.float32)
    gemm = jax.jit(lambda a: a @ a).lower(a).compile()
    tunables = os.environ.get("GLIBC_TUNABLES")
    print(f"jax {jax.__version__}, {jax.devices()[0]}, GLIBC_TUNABLES={tunables}")
    print(
        "| chain | batch | optimal | delivered | predicted (MACs) | fraction | work | of work "
        "| roofline bound | bound / optimal | GEMM Gmac/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for widths, batch in ROWS:
        net = jb.mlp(widths, seed=0)
        shape = (batch, widths[0]) if batch > 1 else (widths[0],)
        x = jnp.asarray(np.random.default_rng(1).standard_normal(shape), jnp.float32)
        fns = {
            "optimal": lambda v, net=net: jb.jacobian(net, v, "optimal"),
            "jacfwd": jax.jacfwd(net),
            "jacrev": jax.jacrev(net),
        }
        if batch > 1:
            fns = {k: jax.vmap(f) for k, f in fns.items()}
        compiled = {k: jax.jit(f).lower(x).compile() for k, f in fns.items()}
        for f in compiled.values():
            jax.block_until_ready(f(x))
        move = mover(net, x, batch)
        move()
        ratios, optimal, rates, moves, faster = [], [], [], [], []
        for _ in range(reps):
            rates.append(2048**3 / best(gemm, a, n=3))
            moves.append(best(move))
            t = {k: best(f, x, n=5 if k == "optimal" else 1) for k, f in compiled.items()}
            optimal.append(t["optimal"])
            ratios.append(min(t["jacfwd"], t["jacrev"]) / t["optimal"])
            faster.append("jacfwd" if t["jacfwd"] <= t["jacrev"] else "jacrev")
        plan = jb.plan_matrix_free(widths)
        predicted = min(plan.forward_macs, plan.reverse_macs) / plan.macs
        delivered = statistics.median(ratios)
        work = executed_macs(widths, statistics.mode(faster), batch) / executed_macs(
            widths, "optimal", batch
        )
        bound = max(batch * plan.macs / max(rates), min(moves))
        opt = statistics.median(optimal)
        print(
            f"| {widths} | {batch} | {opt * 1e3:.2f} ms | {delivered:.1f}x | {predicted:.1f}x "
            f"| {delivered / predicted:.2f} | {work:.1f}x | {delivered / work:.2f} "
            f"| {bound * 1e3:.2f} ms | {bound / opt:.2f} "
            f"| {statistics.median(rates) / 1e9:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
