import dataclasses
import json
import math
import os
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb
from jacobench.matrix_free import Node
from jacobench.timing import (
    DeviceProfile,
    calibrate,
    load,
    load_or_calibrate,
    predict,
    predict_seconds,
    save,
    stale_reason,
    store,
)
from jacobench.timing import profile as profile_module
from jacobench.timing.predict import explain, operations

# A made-up device with round numbers: 1 Gflop/s, 1 GB/s, 1 us a launch, 10 us a call.
ROUND = DeviceProfile.uniform(flops=1e9, bandwidth=1e9, op_overhead_s=1e-6, call_overhead_s=1e-5)


def grid_profile(sizes, seconds_of, op_overhead_s=0.0, bandwidth=1e15, **fields):
    """A profile whose products at grid shapes take seconds_of(m, k, n)."""
    import itertools

    rates = tuple(
        profile_module.DtypeRates(
            dtype=t,
            sizes=tuple(sizes),
            matmul=tuple(
                (m, k, n, seconds_of(m, k, n)) for m, k, n in itertools.product(sizes, repeat=3)
            ),
            elementwise_per_s=1e9,
            transcendental_per_s=1e8,
        )
        for t in ("float32", "float64")
    )
    backends = tuple(
        profile_module.BackendRates(
            backend=b,
            call_overhead_s=1e-5,
            arg_overhead_s=1e-6,
            op_overhead_s=op_overhead_s,
            bandwidth=((1, bandwidth), (1 << 40, bandwidth)),
            dtypes=rates,
            weights=((1, bandwidth), (1 << 40, bandwidth)),  # never slower: no extra
            left_weights=((1, bandwidth), (1 << 40, bandwidth)),
            right_weights=((1, bandwidth), (1 << 40, bandwidth)),
        )
        for b in ("numpy", "jax")
    )
    base = dict(
        device="test device",
        platform="cpu",
        jax_version="0.0",
        jaxlib_version="0.0",
        numpy_version="0.0",
        date="2026-01-01T00:00:00+00:00",
        matmul_precision="default",
        calibration_s=1.0,
    )
    base.update(fields)
    return DeviceProfile(**base, backends=backends)


# --- the time model on a made-up device ---------------------------------------------------------


def test_explicit_plan_by_hand():
    # (J3 J2) J1 on (50, 5, 100, 10): products (10, 100, 5) and (10, 5, 50).
    # (10, 100, 5): 10,000 flops -> 10 us; 6,200 bytes -> 6.2 us; + 1 us launch.
    # (10, 5, 50): 5,000 flops -> 5 us; 3,200 bytes -> 3.2 us; + 1 us launch. Call: 10 us.
    p = jb.plan((50, 5, 100, 10))
    assert [op.shape for op in operations(p, "numpy")] == [(10, 100, 5), (10, 5, 50)]
    assert predict_seconds(p, ROUND, "numpy") == pytest.approx(27e-6, rel=1e-9)
    assert predict_seconds(p, ROUND, "jax") == pytest.approx(27e-6, rel=1e-9)
    # float64 doubles the bytes: (10, 100, 5) is then 12.4 us of memory traffic.
    assert predict_seconds(p, ROUND, "jax", "float64") == pytest.approx(
        (12.4 + 1 + 6.4 + 1 + 10) * 1e-6, rel=1e-9
    )


def test_memory_bound_product_by_hand():
    # (1000, 1000, 1): 2 Mflop -> 2 ms; 4,008,000 bytes at 1 GB/s -> 4.008 ms.
    assert ROUND.matmul_seconds(1000, 1000, 1) == pytest.approx(4.008e-3, rel=1e-9)
    # Arrays of shapes broadcast and give arrays.
    got = ROUND.matmul_seconds(np.array([[100], [1000]]), 100, np.array([100, 1000]))
    assert got.shape == (2, 2)
    assert got[0, 0] == pytest.approx(2e-3, rel=1e-9)
    assert got[1, 1] == pytest.approx(0.2, rel=1e-9)


def test_matrix_free_plan_by_hand():
    # jvp(J2 J1) on (3, 4, 2), float32, on a device doing 1e9 flop/s with endless bandwidth:
    d = (3, 4, 2)
    dev = DeviceProfile.uniform(flops=1e9, bandwidth=1e18, op_overhead_s=1e-6)
    p = jb.plan_matrix_free(d, "forward")
    ops = operations(p)
    assert [(op.kind, op.shape) for op in ops] == [
        ("matmul", (4, 3, 1)),  # primal layer 1, which D W1 needs
        ("tanh", (4,)),
        ("elementwise", (4, 3)),  # D W1: the identity seed makes no product
        ("elementwise", (4, 4)),  # [x1 | V]: 3 tangents, the primal rides along
        ("matmul", (2, 4, 4)),  # W2 [x1 | V]
        ("tanh", (2,)),
        ("elementwise", (2, 3)),  # times the slope
    ]
    flops = 2 * (4 * 3 + 2 * 4 * 4)
    expected = flops / 1e9 + len(ops) * 1e-6  # element-wise work costs nothing here
    assert predict_seconds(p, dev) == pytest.approx(expected, rel=1e-9)
    # The same plan through explain: one entry per op, then the call.
    parts = explain(p, dev)
    assert len(parts) == len(ops) + 1 and parts[-1][0].label == "call"
    # JAX's own jacfwd makes the seed block, both primal products, then a product per layer.
    products = [op.shape for op in operations(jb.plan_matrix_free(d, "jacfwd"))]
    assert [s for s in products if len(s) == 3] == [(4, 3, 1), (2, 4, 1), (4, 3, 3), (2, 4, 3)]


def test_hourglass_optimal_beats_forward_in_seconds_too():
    p = jb.plan_matrix_free((1000, 1000, 10, 1000, 1000))
    fwd = jb.plan_matrix_free(p.widths, "forward")
    dev = DeviceProfile.uniform(flops=1e9, bandwidth=1e10, op_overhead_s=1e-6)
    # 67x by multiply-adds; the executor's forward skips the identity seed's product (half its
    # work here), so about 32x by seconds.
    assert 25 < predict_seconds(fwd, dev) / predict_seconds(p, dev) < 40


def test_batched_pass_pays_its_loop():
    d = (8, 8, 8)
    whole = jb.plan_matrix_free(d, Node("tangents", 1, 2))
    batched = jb.plan_matrix_free(d, Node("tangents", 1, 2, batch=3))  # batches 3, 3, 2
    ops = operations(batched)
    products = [op.shape for op in ops if op.kind == "matmul"]
    # the activations first (outside the loop), then per batch D W1 (no product) and W2 @ V
    assert products == [(8, 8, 1)] * 2 + [(8, 8, 3)] * 2 + [(8, 8, 2)]
    assert sum(op.kind == "control" for op in ops) == 3 * 2  # two batches in the loop
    assert predict_seconds(batched, ROUND) > predict_seconds(whole, ROUND)


def test_jacfwd_and_jacrev_cost_more_than_our_forward_and_reverse():
    d = (5, 9, 3, 7)
    for jax_name, ours in (("jacfwd", "forward"), ("jacrev", "reverse")):
        theirs = predict_seconds(jb.plan_matrix_free(d, jax_name), ROUND)
        assert theirs > predict_seconds(jb.plan_matrix_free(d, ours), ROUND)


def test_interpolation_is_log_linear_between_grid_points():
    # Products take 1 ms at every shape of the grid (1, 100): at 10 x 10 x 10, halfway in log
    # space, the rate is the geometric mean of the corners' rates, so the time is 1 ms again.
    dev = grid_profile((1, 100), lambda m, k, n: 1e-3)
    assert dev.matmul_seconds(10, 10, 10) == pytest.approx(1e-3, rel=1e-9)
    assert dev.matmul_seconds(100, 100, 100) == pytest.approx(1e-3, rel=1e-9)
    # Beyond the grid the rate stays that of its edge: 1000^3 is 1000 times 100^3.
    assert dev.matmul_seconds(1000, 1000, 1000) == pytest.approx(1.0, rel=1e-9)


def test_launch_is_taken_off_the_measured_time_and_added_back():
    dev = grid_profile((1, 100), lambda m, k, n: 2e-6 + m * k * n * 1e-9, op_overhead_s=2e-6)
    p = jb.plan((100, 100, 100))
    (_, seconds), call = explain(p, dev)
    assert seconds == pytest.approx(2e-6 + 1e-3, rel=1e-9)
    assert call[1] == pytest.approx(1e-5 + 1e-6)  # two Jacobians: one argument more


def test_a_slow_measurement_is_capped_by_a_larger_product():
    # (1, 100, 100) measured slower than (100, 100, 100), which contains it: another process
    # must have slowed it down; the larger product's time caps it.
    def seconds_of(m, k, n):
        return 5e-3 if (m, k, n) == (1, 100, 100) else 1e-3

    dev = grid_profile((1, 100), seconds_of)
    assert dev.matmul_seconds(1, 100, 100) == pytest.approx(1e-3, rel=1e-9)


def test_a_skipped_shape_gets_the_rate_of_the_largest_product_inside_it():
    dev = grid_profile((1, 10, 100), lambda m, k, n: m * k * n * 1e-9)  # 2 Gflop/s
    rates = dev.rates("jax").rates("float32")
    skipped = dataclasses.replace(
        rates, matmul=tuple(r for r in rates.matmul if r[:3] != (100,) * 3)
    )
    backend = dataclasses.replace(dev.rates("jax"), dtypes=(skipped,))
    dev = dataclasses.replace(dev, backends=(backend,))
    assert dev.matmul_seconds(100, 100, 100) == pytest.approx(1e-3, rel=1e-9)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "backend", "message"),
    [
        (jb.plan_matrix_free((3, 4)), "numpy", "backend 'numpy' cannot run a matrix-free plan"),
        (jb.plan((3, 4)), "torch", "backend 'torch' cannot run an explicit plan"),
        ((3, 4), "jax", "plan is tuple, expected a jacobench.Plan"),
    ],
)
def test_a_backend_a_plan_cannot_run_on_is_an_error(plan, backend, message):
    with pytest.raises(jb.JacobenchError, match=re.escape(message)):
        predict_seconds(plan, ROUND, backend)


def test_a_profile_without_the_backend_or_dtype_is_an_error():
    only_numpy = dataclasses.replace(ROUND, backends=(ROUND.rates("numpy"),))
    with pytest.raises(jb.JacobenchError, match=r"backend 'jax' is not in the device profile"):
        predict_seconds(jb.plan((3, 4, 5)), only_numpy, "jax")
    jax_rates = ROUND.rates("jax")
    f32 = dataclasses.replace(jax_rates, dtypes=(jax_rates.rates("float32"),))
    no_f64 = dataclasses.replace(ROUND, backends=(f32,))
    with pytest.raises(jb.JacobenchError, match=r"has no float64 rates for backend 'jax'"):
        predict_seconds(jb.plan((3, 4, 5)), no_f64, "jax", "float64")


# --- weights a call reads from memory -----------------------------------------------------------

# Weights read at 4 GB/s cycling over up to 1 MB, 1 GB/s over 100 MB and more.
SLOW_WEIGHTS = ((1 << 20, 4e9), (100 << 20, 1e9))


def with_weights(profile, weights=SLOW_WEIGHTS, left=None, right=None):
    """``profile`` whose curves are ``weights`` (and the products' ``left``/``right``, default
    the same)."""
    backends = tuple(
        dataclasses.replace(
            b,
            weights=weights,
            left_weights=weights if left is None else left,
            right_weights=weights if right is None else right,
        )
        for b in profile.backends
    )
    return dataclasses.replace(profile, backends=backends)


def test_weights_cost_nothing_extra_in_cache_and_more_beyond():
    rates = with_weights(ROUND).rates("jax")
    assert rates.weight_seconds_per_byte(1 << 20) == 0.0  # the first point: in cache
    assert rates.weight_seconds_per_byte(1000) == 0.0  # below it too
    # 1/1e9 - 1/4e9 s a byte beyond the last point (clamped), log-log in between
    assert rates.weight_seconds_per_byte(1 << 40) == pytest.approx(7.5e-10)
    middle = rates.weight_seconds_per_byte(10 << 20)
    assert 0 < middle < 7.5e-10
    assert ROUND.rates("jax").weight_seconds_per_byte(1 << 40) == pytest.approx(0, abs=1e-24)
    unmeasured = dataclasses.replace(ROUND.rates("jax"), weights=())
    assert unmeasured.weight_seconds_per_byte(1 << 40) == 0.0


def test_ops_name_the_weights_and_given_jacobians_they_read():
    mf = operations(jb.plan_matrix_free((6, 5, 4), "reverse"))
    products = [op for op in mf if op.kind == "matmul"]
    assert [(op.shape, op.reads) for op in products] == [
        ((5, 6, 1), ((1, 30),)),  # primal of layer 1 reads W1
        ((4, 5, 1), ((2, 20),)),
        ((4, 5, 6), ((1, 30),)),  # adjoints through layer 1 read W1 again (layer 2: rows of D W2)
    ]
    assert [op.reads for op in mf if "D W" in op.label] == [((2, 4 * 5),)]
    explicit = operations(jb.plan((2, 3, 4, 5), "reverse"), "numpy")  # (J3 J2) J1
    assert [(op.shape, op.reads) for op in explicit] == [
        ((5, 4, 3), ((3, 20), (2, 12))),
        ((5, 3, 2), ((1, 6),)),
    ]


def test_a_weight_read_again_at_once_comes_from_cache():
    # Forward mode with 16 tangents (not fused): each layer's primal product reads W, then the
    # tangents' product reads it again with nothing in between.
    ops = operations(jb.plan_matrix_free((16, 8, 8, 8), "forward"))
    reads, far = predict.reuse_distances(ops, 1000)
    pairs = [(op.label, int(d)) for op, r, d in zip(ops, reads, far, strict=True) if r]
    assert pairs[:2] == [("primal layer 1", 1000), ("tangents J3 J2 J1: layer 1, D W", 0)]
    assert [d for label, d in pairs if label.endswith(": layer 2")] == [0]
    assert {d for label, d in pairs if label.startswith("primal")} == {1000}  # first reads


def test_a_call_that_outgrows_the_caches_pays_for_its_weights():
    widths = (32,) + (512,) * 31 + (32,)  # 30 weights of 1 MiB (float32)
    plan = jb.plan_matrix_free(widths, "reverse")
    slow = with_weights(ROUND)
    extra = predict_seconds(plan, slow) - predict_seconds(plan, ROUND)
    reads, far = predict.reuse_distances(operations(plan), predict.footprint(plan))
    per_byte = slow.rates("jax").weight_seconds_per_byte(far * 4)
    assert extra == pytest.approx(float(np.sum(reads * 4 * per_byte))) and extra > 0
    forward = jb.plan_matrix_free(widths, "forward")  # reads each weight from memory once
    more = predict_seconds(forward, slow) - predict_seconds(forward, ROUND)
    assert 0 < more < extra  # reverse reads each twice, far apart
    small = jb.plan_matrix_free((32, 64, 32), "reverse")  # 16 KiB: in cache
    assert predict_seconds(small, slow) == predict_seconds(small, ROUND)


def test_a_profile_from_before_weights_were_measured_loads_but_is_stale(tmp_path):
    p = with_weights(grid_profile((1, 4), lambda m, k, n: 1e-6))
    assert load(save(p, tmp_path / "new.json")) == p
    data = json.loads((tmp_path / "new.json").read_text())
    for backend in data["backends"]:
        del backend["weights"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = load(tmp_path / "old.json")
    assert all(b.weights == () for b in old.backends)
    here = {**old.to_dict()}
    assert "before calibration timed weight reads" in stale_reason(old, here=here)
    assert stale_reason(p, here=here) is None
    for backend in data["backends"]:  # the products' curves alone missing
        backend["weights"] = [list(w) for w in SLOW_WEIGHTS]
        del backend["left_weights"], backend["right_weights"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = load(tmp_path / "old.json")
    assert all(b.left_weights == b.right_weights == () for b in old.backends)
    assert "timed products' weight reads" in stale_reason(old, here=here)


def test_a_product_pays_the_extra_of_the_side_its_weight_is_on():
    # Out of cache, weights on the right read at half the speed of those on the left.
    faster, slower = ((1 << 20, 4e9), (100 << 20, 2e9)), ((1 << 20, 4e9), (100 << 20, 1e9))
    device = with_weights(ROUND, left=faster, right=slower)
    widths = (32,) + (512,) * 31 + (32,)  # 30 weights of 1 MiB (float32): out of cache
    fwd = jb.plan_matrix_free(widths, "forward")  # tangents: W @ V, the weight on the left
    rev = jb.plan_matrix_free(widths, "reverse")  # adjoints: A @ W, on the right
    same = with_weights(ROUND, left=faster, right=faster)
    assert predict_seconds(rev, device) > predict_seconds(rev, same)
    assert predict_seconds(fwd, device) == pytest.approx(predict_seconds(fwd, same))
    rates = device.rates("jax")
    assert rates.weight_seconds_per_byte(50 << 20, "right") > rates.weight_seconds_per_byte(
        50 << 20, "left"
    )
    with pytest.raises(jb.JacobenchError, match="side is 'top', expected 'vector', 'left'"):
        rates.weight_seconds_per_byte(1, "top")


# --- saving and loading -----------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    p = grid_profile((1, 4, 16), lambda m, k, n: 1e-6 * (1 + m * k * n))
    path = save(p, tmp_path / "sub" / "device.json")
    assert load(path) == p
    assert os.listdir(path.parent) == ["device.json"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_default_path_is_under_results_profiles():
    assert store.default_path("gpu: NVIDIA H200 (host: x)").as_posix() == (
        "results/profiles/gpu-nvidia-h200-host-x.json"
    )


def written(tmp_path, profile=None):
    path = tmp_path / "device.json"
    save(profile or grid_profile((1, 4), lambda m, k, n: 1e-6), path)
    return path


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: "not json at all", "is not valid JSON"),
        (lambda text: text[: len(text) // 2], "is not valid JSON"),
        (lambda text: "[1, 2]", "holds list, expected a JSON object"),
        (lambda text: text.replace('"format": 1', '"format": 99'), "format is 99, expected 1"),
        (lambda text: text.replace('"device"', '"devise"'), "has no field 'device'"),
        (lambda text: text.replace('"op_overhead_s": 0.0', '"op_overhead_s": -1'), "expected a"),
    ],
)
def test_a_damaged_file_is_an_error(tmp_path, damage, message):
    path = written(tmp_path)
    path.write_text(damage(path.read_text()))
    with pytest.raises(jb.JacobenchError, match=re.escape(message)):
        load(path)


def test_a_file_missing_a_dtype_is_an_error(tmp_path):
    path = written(tmp_path)
    data = json.loads(path.read_text())
    data["backends"][1]["dtypes"] = data["backends"][1]["dtypes"][:1]  # jax: float32 only
    path.write_text(json.dumps(data))
    with pytest.raises(jb.JacobenchError, match=r"backends\[1\] \(jax\) has no float64 rates"):
        load(path)


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(jb.JacobenchError, match="cannot read the device profile"):
        load(tmp_path / "nothing.json")


# --- load_or_calibrate ------------------------------------------------------------------------


HERE = {
    "device": "test device",
    "platform": "cpu",
    "jax_version": "0.0",
    "jaxlib_version": "0.0",
    "numpy_version": "0.0",
    "matmul_precision": "default",
}


@pytest.fixture
def fake_machine(monkeypatch):
    """This machine is HERE; calibrating it counts the calls and returns a fresh profile."""
    calls = []

    def fake_calibrate(**kwargs):
        calls.append(kwargs)
        return grid_profile((1, 2), lambda m, k, n: 2e-6, date="fresh")

    monkeypatch.setattr(store, "device_fields", lambda: dict(HERE))
    monkeypatch.setattr("jacobench.timing.micro.calibrate", fake_calibrate)
    return calls


def test_a_valid_profile_is_reused(tmp_path, fake_machine):
    path = written(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = load_or_calibrate(path)
    assert fake_machine == [] and p == load(path)


def test_a_missing_profile_is_calibrated_and_saved(tmp_path, fake_machine):
    path = tmp_path / "new.json"
    p = load_or_calibrate(path, quick=True)
    assert len(fake_machine) == 1 and fake_machine[0]["quick"] is True
    assert load(path) == p and p.date == "fresh"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("device", "another device", "it was measured on 'another device'"),
        ("jax_version", "0.0.1", "it was measured with jax 0.0.1, this is jax 0.0"),
        ("matmul_precision", "highest", "it was measured at matmul precision highest"),
    ],
)
def test_another_device_or_version_warns_and_recalibrates(
    tmp_path, fake_machine, field, value, reason
):
    old = grid_profile((1, 4), lambda m, k, n: 1e-6, **{field: value})
    path = written(tmp_path, old)
    with pytest.warns(UserWarning, match=re.escape(reason) + ".*recalibrating"):
        p = load_or_calibrate(path)
    assert len(fake_machine) == 1 and load(path) == p and p.date == "fresh"
    kept = [f for f in os.listdir(tmp_path) if ".replaced-" in f]
    assert len(kept) == 1 and load(tmp_path / kept[0]) == old  # nothing saved is lost


def test_a_corrupt_profile_survives_a_failed_recalibration(tmp_path, monkeypatch):
    path = tmp_path / "device.json"
    path.write_text('{"format": 1, "dev')
    monkeypatch.setattr(store, "device_fields", lambda: dict(HERE))

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("jacobench.timing.micro.calibrate", interrupted)
    with pytest.warns(UserWarning, match="not valid JSON"), pytest.raises(KeyboardInterrupt):
        load_or_calibrate(path)
    assert path.read_text() == '{"format": 1, "dev'  # untouched until a new one is written
    assert os.listdir(tmp_path) == ["device.json"]


def test_a_profile_lacking_a_dtype_is_recalibrated(tmp_path, fake_machine):
    old = grid_profile((1, 4), lambda m, k, n: 1e-6)
    assert stale_reason(old, dtypes=("float32", "bfloat16"), here=HERE) == (
        "it has no bfloat16 rates (it has ['float32', 'float64'])"
    )
    path = written(tmp_path, old)
    jax_only = dataclasses.replace(old, backends=(old.rates("jax"),))
    save(jax_only, path)
    with pytest.warns(UserWarning, match="no rates for backend 'numpy'"):
        load_or_calibrate(path)
    assert len(fake_machine) == 1


# --- calibration on this machine (a tiny grid) ------------------------------------------------


def tiny_calibration(progress):
    """A JAX, float32 calibration of the 8 shapes of sizes (1, 8)."""
    return calibrate(
        backends=("jax",), dtypes=("float32",), quick=True, sizes=(1, 8), progress=progress
    )


def test_quick_calibration_measures_this_machine(tmp_path):
    seen = []
    p = tiny_calibration(lambda f, m: seen.append(f))
    assert [b.backend for b in p.backends] == ["jax"] and p.dtypes == ("float32",)
    assert p.jax_version == jax.__version__ and p.platform == jax.devices()[0].platform
    assert seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen) and seen == sorted(seen)
    rates = p.rates("jax")
    assert rates.call_overhead_s > 0 and rates.op_overhead_s >= 0
    assert len(rates.rates("float32").matmul) == 8
    assert 0 < p.matmul_seconds(8, 8, 8) < 1
    footprints = [f for f, _ in rates.weights]
    assert footprints == [1 << 20, 4 << 20] and all(v > 0 for _, v in rates.weights)
    for curve in (rates.left_weights, rates.right_weights):
        assert [f for f, _ in curve] == footprints and all(v > 0 for _, v in curve)
    assert load(save(p, tmp_path / "p.json")) == p


def test_beside_an_accelerator_weight_reads_cost_nothing_extra(monkeypatch):
    # A matrix-vector product of 1 MiB there is its launch: one point, no curve to read noise from.
    from jacobench.timing import micro

    real = micro.device_fields
    monkeypatch.setattr(micro, "device_fields", lambda: {**real(), "platform": "gpu"})
    p = calibrate(backends=("numpy", "jax"), dtypes=("float32",), quick=True, sizes=(1, 8))
    assert [f for f, _ in p.rates("jax").weights] == [1 << 20]  # the device: one point
    assert [f for f, _ in p.rates("jax").right_weights] == [1 << 20]
    assert [f for f, _ in p.rates("numpy").weights] == [1 << 20, 4 << 20]  # the host: a curve
    assert p.rates("jax").weight_seconds_per_byte(1 << 40) == 0.0
    assert stale_reason(p, ("numpy", "jax"), ("float32",), here=p.to_dict()) is None


def test_calibration_compiles_ahead_on_threads(monkeypatch):
    # What an accelerator does (every program compiled ahead, on all host cores), forced here.
    from jacobench.timing import _backends, micro

    monkeypatch.setattr(_backends, "COMPILE_THREADS", 2)  # read where _Jax.prepare lives
    compiled_when_timed = []
    timed = micro._Jax.matmul

    def spy(self, m, k, n, dtype):
        compiled_when_timed.append((m, k, n, self.repeats.get((m, k, n), 1)) in self.compiled)
        return timed(self, m, k, n, dtype)

    monkeypatch.setattr(micro._Jax, "matmul", spy)
    messages = []
    p = tiny_calibration(lambda f, m: messages.append(m))
    assert any("compiling 16 programs on 2 threads" in m for m in messages)  # 8 shapes x (1, 2)
    assert len(compiled_when_timed) >= 8 and all(compiled_when_timed)
    assert len(p.rates("jax").rates("float32").matmul) == 8 and 0 < p.matmul_seconds(8, 8, 8) < 1


def test_the_larger_products_are_measured_again_and_combined(monkeypatch):
    # The products of AGAIN_S (here 40 us) or more are measured again after the weight-read
    # curves. Where a spell of other work slowed the first timing 3x (m = 2), the second stands;
    # where the two are within SPELL of each other (1.21x, m = 1), their geometric mean. The
    # others keep their first figure.
    from jacobench.timing import _driver, micro

    calls: dict[tuple[int, int, int], int] = {}

    def timing(self, m, k, n, dtype):
        calls[m, k, n] = calls.get((m, k, n), 0) + 1
        first = calls[m, k, n] == 1
        return 1e-5 * m * k * n * ((3.0 if m == 2 else 1.21) if first else 1.0)

    monkeypatch.setattr(micro._Numpy, "matmul", timing)
    monkeypatch.setattr(_driver, "AGAIN_S", 4e-5)  # read where _Backend.again lives
    p = calibrate(backends=("numpy",), dtypes=("float32",), quick=True, sizes=(1, 2))
    rows = {(m, k, n): t for m, k, n, t in p.rates("numpy").rates("float32").matmul}
    assert rows[1, 1, 2] == pytest.approx(2.42e-5) and calls[1, 1, 2] == 1
    assert rows[1, 2, 2] == pytest.approx(4.4e-5) and calls[1, 2, 2] == 2
    assert rows[2, 1, 1] == pytest.approx(2e-5) and calls[2, 1, 1] == 2
    assert rows[2, 2, 2] == pytest.approx(8e-5) and calls[2, 2, 2] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backends": ("cuda",)}, "unknown backend 'cuda'; valid options are ['numpy', 'jax']"),
        ({"dtypes": ("int8",)}, "unknown dtype 'int8'"),
        ({"sizes": (2, 8)}, "sizes is (2, 8), expected at least two increasing ints from 1"),
    ],
)
def test_bad_calibration_arguments(kwargs, message):
    with pytest.raises(jb.JacobenchError, match=re.escape(message)):
        calibrate(**kwargs)


# --- the model counts the products XLA runs ---------------------------------------------------


@pytest.mark.parametrize("widths", [(8, 8, 2, 8, 8), (3, 9, 9, 3), (16, 3, 16), (2, 6, 5, 7, 2)])
@pytest.mark.parametrize("strategy", sorted(jb.matrix_free.STRATEGIES))
def test_matrix_free_products_are_the_ones_xla_runs(widths, strategy):
    # (Widths of 1 are left out: XLA rewrites products with a dimension of 1 as element-wise ops,
    # as it does in the calibration's own products of those shapes.)
    net = jb.mlp(widths, seed=0)
    x = jnp.linspace(-1.0, 1.0, widths[0], dtype=jnp.float32)
    p = jb.plan_matrix_free(widths, strategy)
    hlo = jax.jit(lambda v: jb.jacobian(net, v, p)).lower(x).compile().as_text()
    dots = len(re.findall(r"= \S+ dot\(", hlo))
    assert dots == sum(op.kind == "matmul" for op in operations(p))


@pytest.mark.parametrize("widths", [(8, 8, 2, 8, 8), (3, 9, 9, 3)])
@pytest.mark.parametrize("strategy", sorted(jb.matrix_free.STRATEGIES))
def test_vmapped_products_are_the_ones_xla_runs(widths, strategy):
    # Over 5 points each product is one product still (the points join its free dimension, or
    # it is a batched product of per-point blocks), doing 5 times the multiply-adds.
    net = jb.mlp(widths, seed=0)
    xs = jnp.linspace(-1.0, 1.0, 5 * widths[0], dtype=jnp.float32).reshape(5, widths[0])
    p = jb.plan_matrix_free(widths, strategy)
    hlo = jax.jit(jax.vmap(lambda v: jb.jacobian(net, v, p))).lower(xs).compile().as_text()
    one, five = operations(p), operations(p, points=5)
    assert len(re.findall(r"= \S+ dot\(", hlo)) == sum(op.kind == "matmul" for op in five)

    def macs(ops):
        return sum(op.repeat * math.prod(op.shape) for op in ops if op.kind == "matmul")

    # jax.jacfwd's first product, W1 times the identity, does not depend on the point: once.
    shared = math.prod(widths[:2]) * widths[0] if strategy == "jacfwd" else 0
    assert macs(five) == 5 * macs(one) - 4 * shared
    if strategy == "jacfwd":  # (d_1, d_0), not (d_1, 5 d_0)
        assert re.search(rf"= f32\[{widths[1]},{widths[0]}\]\S* dot\(", hlo)
    device = DeviceProfile.uniform(flops=1e9, bandwidth=1e12)
    assert predict_seconds(p, device, points=5) > predict_seconds(p, device)


def test_points_must_be_a_positive_int_and_only_for_matrix_free_plans():
    device = DeviceProfile.uniform(flops=1e9, bandwidth=1e12)
    with pytest.raises(jb.JacobenchError, match=re.escape("points is 0, expected a positive int")):
        predict_seconds(jb.plan_matrix_free((3, 4)), device, points=0)
    with pytest.raises(jb.JacobenchError, match="points is 2, expected 1: an explicit plan"):
        predict_seconds(jb.plan((3, 4, 5)), device, points=2)


@pytest.mark.parametrize("strategy", ["forward", "reverse", "optimal", "balanced"])
def test_explicit_products_are_the_ones_xla_runs(strategy):
    widths = (5, 7, 3, 6, 4)
    p = jb.plan(widths, strategy)
    mats = [jnp.ones((widths[i + 1], widths[i]), jnp.float32) for i in range(len(widths) - 1)]
    hlo = jax.jit(lambda ms: jb.multiply(ms, p)).lower(mats).compile().as_text()
    assert len(re.findall(r"= \S+ dot\(", hlo)) == len(operations(p, "jax")) == len(p.steps)


def test_a_dip_in_the_measured_rates_is_measured_again():
    import itertools

    from jacobench.timing.micro import _suspects

    grid = (1, 4, 16)
    found = {s: 2 * s[0] * s[1] * s[2] / 1e9 + 1e-6 for s in itertools.product(grid, repeat=3)}
    assert _suspects(found, grid) == []
    found[16, 16, 4] *= 3  # another process slowed this one down
    found[1, 4, 1] *= 2  # and this one: a larger shape, (4, 4, 1), is faster
    assert sorted(_suspects(found, grid)) == [(1, 4, 1), (16, 16, 4)]


def test_weight_reads_names_a_bad_backend():
    from jacobench.timing.micro import weight_reads

    with pytest.raises(jb.JacobenchError, match="unknown backend 'gpu'"):
        weight_reads("gpu")
