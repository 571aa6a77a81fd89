"""Both engines speak one vocabulary: the same eight verbs, plans alike, steps that add up."""

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench import explicit
from jacobench import matrix_free as mf

VERBS = (
    "STRATEGIES",
    "register",
    "cost",
    "memory",
    "optimal",
    "min_peak",
    "trees",
    "format",
    "plan",
)
ENGINES = {"explicit": explicit, "matrix_free": mf}
TOP_LEVEL = {
    "plan",
    "plan_matrix_free",
    "multiply",
    "jacobian",
    "Chain",
    "Dense",
    "mlp",
    "Plan",
    "MatrixFreePlan",
    "JacobenchError",
    "forward_macs",
    "reverse_macs",
    # second order (issue 14)
    "hvp",
    "hessian",
    "plan_hvp",
    "plan_hessian",
}
widths_st = st.lists(st.integers(1, 40), min_size=2, max_size=7).map(tuple)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("verb", VERBS)
def test_both_engines_answer_every_verb(engine, verb):
    assert hasattr(ENGINES[engine], verb), f"jacobench.{engine} lacks {verb}"


def test_the_top_level_is_small():
    assert set(jb.__all__) >= TOP_LEVEL
    # plus the engine namespaces, chain_of (issue 13), second_order (issue 14) and the time
    # model's three names (issue 11)
    time_model = {"DeviceProfile", "calibrate", "predict_seconds"}
    extra = {"explicit", "matrix_free", "chain_of", "second_order", *time_model}
    assert set(jb.__all__) - TOP_LEVEL == extra


@settings(max_examples=40, deadline=None)
@given(widths_st)
def test_engine_plans_equal_the_top_level_plans(widths):
    assert explicit.plan(widths).macs == jb.plan(widths).macs
    assert mf.plan(widths).macs == jb.plan_matrix_free(widths).macs


@settings(max_examples=40, deadline=None)
@given(widths_st)
def test_verbs_agree_with_plan_in_both_engines(widths):
    for engine in ENGINES.values():
        tree = engine.optimal(widths)
        p = engine.plan(widths)
        assert p.tree == tree and p.formula == engine.format(tree)
        assert p.macs == engine.cost(widths, tree)
        assert p.peak_elements == engine.memory(widths, tree) >= engine.min_peak(widths)
        assert engine.optimal(widths, max_peak=p.peak_elements) is not None


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_trees_enumerate_every_plan_and_optimal_is_the_cheapest(engine):
    e = ENGINES[engine]
    widths = (3, 7, 2, 5)
    costs = [e.cost(widths, t) for t in e.trees(3)]
    assert min(costs) == e.cost(widths, e.optimal(widths))


@settings(max_examples=60, deadline=None)
@given(widths_st, st.sampled_from(sorted(set(explicit.STRATEGIES) | set(mf.STRATEGIES))))
def test_printed_steps_add_up_to_the_plan(widths, name):
    """Every step's MACs sum to the plan's; the most held at any step is the plan's peak."""
    for engine in ENGINES.values():
        if name not in engine.STRATEGIES:
            continue
        p = engine.plan(widths, name)
        steps = p.steps
        assert sum(s.macs for s in steps) == p.macs
        if steps:
            assert max(s.held for s in steps) == p.peak_elements
        text = str(p)
        assert all(s.action in text for s in steps)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_register_extends_the_registry(engine):
    e = ENGINES[engine]
    try:
        e.register("My-Optimal", e.optimal)
        assert e.plan((5, 1, 5), "my-optimal").macs == e.plan((5, 1, 5)).macs
    finally:
        e.STRATEGIES.pop("my-optimal", None)
    with pytest.raises(jb.JacobenchError, match="expected a function"):
        e.register("x", 3)
    with pytest.raises(jb.JacobenchError, match="non-empty string"):
        e.register("", e.optimal)


def test_both_plan_types_share_field_names():
    fields = ("widths", "strategy", "tree", "formula", "macs", "peak_elements", "budget_elements")
    for p in (jb.plan((4, 2, 4)), jb.plan_matrix_free((4, 2, 4))):
        for name in fields:
            assert hasattr(p, name)
        assert p.memory_bytes("float64") == 8 * p.peak_elements


def test_layer_costs_change_the_matrix_free_plan():
    widths = (64, 64, 64, 64)
    dense = mf.plan(widths)
    cheap_adjoints = ((64 * 64, 1),) * 3  # pulling back is almost free
    p = mf.plan(widths, layer_costs=cheap_adjoints)
    assert p.formula == "vjp(J3 J2 J1)" and p.macs == 64 * 3
    assert p.forward_macs == dense.forward_macs and p.reverse_macs == 64 * 3
    assert mf.cost(widths, p.tree, layer_costs=cheap_adjoints) == p.macs
    with pytest.raises(jb.JacobenchError, match=r"layer_costs must be 3 pairs"):
        mf.plan(widths, layer_costs=((1, 1),))
    with pytest.raises(jb.JacobenchError, match=r"layer_costs must be 3 pairs"):
        mf.plan(widths, layer_costs=((1, -1),) * 3)


def test_import_jacobench_imports_no_benchmark_tooling():
    code = (
        "import sys, jacobench; "
        "bad = {'pandas', 'matplotlib', 'pytest'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
