"""Matrix-free Jacobians of dense chains: jacobench's plans against jax.jacfwd / jax.jacrev.

Every side is jitted (weights are arguments, not baked-in constants), compiled outside the timed
call and cross-checked against ``jax.jacfwd`` before it is timed; calls are timed blocking, in
float32, in one process.

* ``test_jacobian[case-strategy]``: one row per (chain, strategy), model facts in ``extra_info``.
* ``test_optimal_vs_jax[case]``: times the optimal plan while the faster JAX mode runs (and is
  timed) in each round's untimed ``setup``, so the two alternate and share the machine's mood;
  ``extra_info`` holds the measured speed-up, the predicted (MAC) one and their ratio.

Run: ``.venv/bin/python -m pytest bench/bench_matrix_free.py --benchmark-only``.
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb

CASES = {
    "hourglass-1000": (1000, 1000, 10, 1000, 1000),
    "hourglass-2048": (2048, 2048, 16, 2048, 2048),
    "funnel": (2048, 1024, 512, 256, 128),
    "expanding": (128, 256, 512, 1024, 2048),
    "constant": (1024, 1024, 1024, 1024, 1024),
}
STRATEGIES = ["optimal", "jacfwd", "jacrev", "forward", "reverse"]
ACTIVATION = "tanh"
TARGET_SECONDS = 1.0  # per benchmark, roughly


def compiled(widths, strategy):
    """A blocking, jitted, already compiled ``() -> J`` for the mlp on ``widths``."""
    net = jb.mlp(widths, activation=ACTIVATION, seed=0, dtype=jnp.float32)
    params = [(layer.weight, layer.bias) for layer in net.layers]
    x = jnp.linspace(-1.0, 1.0, widths[0], dtype=jnp.float32)

    @jax.jit
    def f(params, x):
        chain = jb.Chain([jb.Dense(w, b, ACTIVATION) for w, b in params], widths)
        return jb.jacobian(chain, x, strategy)

    jax.block_until_ready(f(params, x))  # compile: not timed
    return lambda: jax.block_until_ready(f(params, x))


_REFERENCE: dict = {}


def check(widths, run, strategy):
    """Stop before timing if ``run`` disagrees with jax.jacfwd (showing both)."""
    if widths not in _REFERENCE:
        _REFERENCE[widths] = np.asarray(compiled(widths, "jacfwd")())
    ref, got = _REFERENCE[widths], np.asarray(run())
    scale = float(np.abs(ref).max())
    np.testing.assert_allclose(
        got, ref, rtol=1e-3, atol=1e-4 * scale, err_msg=f"{strategy} on {widths} != jax.jacfwd"
    )


def rounds_for(run):
    start = time.perf_counter()
    run()
    return int(min(200, max(5, TARGET_SECONDS / max(time.perf_counter() - start, 1e-6))))


def model_info(widths, strategy):
    p = jb.plan_matrix_free(widths, strategy)
    best_jax = min(p.forward_macs, p.reverse_macs)
    return {
        "widths": "-".join(map(str, widths)),
        "strategy": strategy,
        "formula": p.formula,
        "model_macs": p.macs,
        "forward_macs": p.forward_macs,
        "reverse_macs": p.reverse_macs,
        "predicted_speedup_vs_best_jax": best_jax / p.macs,
        "peak_memory_elements": p.peak_elements,
        "dtype": "float32",
        "device": jax.devices()[0].device_kind,
    }


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("case", list(CASES))
def test_jacobian(benchmark, case, strategy):
    widths = CASES[case]
    run = compiled(widths, strategy)
    check(widths, run, strategy)
    benchmark.group = case
    benchmark.extra_info.update(case=case, **model_info(widths, strategy))
    benchmark.pedantic(run, rounds=rounds_for(run), warmup_rounds=1, iterations=1)


@pytest.mark.parametrize("case", list(CASES))
def test_optimal_vs_jax(benchmark, case):
    widths = CASES[case]
    p = jb.plan_matrix_free(widths)
    jax_name = "jacfwd" if p.forward_macs <= p.reverse_macs else "jacrev"
    optimal, baseline = compiled(widths, "optimal"), compiled(widths, jax_name)
    check(widths, optimal, "optimal")
    # Which JAX mode is faster is measured, not assumed (they tie on constant widths).
    other = compiled(widths, "jacrev" if jax_name == "jacfwd" else "jacfwd")
    if min(timings(other, 3)) < min(timings(baseline, 3)):
        jax_name, baseline = ("jacrev" if jax_name == "jacfwd" else "jacfwd"), other
    baseline_times: list[float] = []

    def setup():  # untimed by pytest-benchmark: run and time the baseline between rounds
        baseline_times.extend(timings(baseline, 1))

    benchmark.group = f"{case} (alternating)"
    n_rounds = max(5, min(60, rounds_for(baseline) * 3))
    benchmark.pedantic(optimal, setup=setup, rounds=n_rounds, warmup_rounds=1, iterations=1)
    info = model_info(widths, "optimal")
    measured_min = min(baseline_times) / benchmark.stats.stats.min
    measured_median = statistics.median(baseline_times) / benchmark.stats.stats.median
    info.update(
        case=case,
        baseline=jax_name,
        baseline_min_s=min(baseline_times),
        baseline_median_s=statistics.median(baseline_times),
        measured_speedup_min=measured_min,
        measured_speedup_median=measured_median,
        fraction_of_predicted_min=measured_min / info["predicted_speedup_vs_best_jax"],
        fraction_of_predicted_median=measured_median / info["predicted_speedup_vs_best_jax"],
    )
    benchmark.extra_info.update(info)
    print(
        f"\n{case}: optimal {info['formula']} vs {jax_name}: measured {measured_min:.3g}x (min) "
        f"/ {measured_median:.3g}x (median), predicted {info['predicted_speedup_vs_best_jax']:.3g}x"
    )


def timings(run, n):
    out = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


@pytest.mark.parametrize("n_layers", [20, 50])
def test_matrix_free_planning_time(benchmark, n_layers):
    rng = np.random.default_rng(n_layers)
    widths = tuple(int(w) for w in rng.integers(1, 4096, size=n_layers + 1))
    benchmark.extra_info.update(n_layers=n_layers, widths="-".join(map(str, widths)))
    tree = benchmark(jb.matrix_free._optimal.__wrapped__, widths)  # uncached DP
    assert jb.matrix_free.cost(widths, tree) <= jb.matrix_free.forward_macs(widths)
