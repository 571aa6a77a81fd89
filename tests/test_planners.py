import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench import explicit

widths_st = st.lists(st.integers(1, 30), min_size=2, max_size=8).map(tuple)


@given(widths_st)
@settings(max_examples=150, deadline=None)
def test_optimal_is_never_beaten_and_every_plan_costs_its_tree(widths):
    n = len(widths) - 1
    best = jb.plan(widths, "optimal")
    brute = min(explicit.cost(widths, t) for t in explicit.trees(n))
    assert best.macs == brute
    for tree in explicit.trees(n):
        p = jb.plan(widths, tree)
        assert p.macs == explicit.cost(widths, tree) >= best.macs
        assert p.peak_elements == explicit.memory(widths, tree)
        assert p.strategy == "custom"
    assert jb.plan(widths, "forward").macs == jb.forward_macs(widths)
    assert jb.plan(widths, "reverse").macs == jb.reverse_macs(widths)


@pytest.mark.parametrize("name", sorted(jb.explicit.STRATEGIES))
def test_every_registered_strategy_gives_a_valid_costed_plan(name):
    widths = (7, 3, 9, 2, 8, 5)
    p = jb.plan(widths, name.upper())
    assert p.strategy == name
    assert explicit.validate_tree(p.tree, 5) == p.tree
    assert p.macs == explicit.cost(widths, p.tree)
    assert p.speedup_vs_forward == pytest.approx(p.forward_macs / p.macs)
    assert p.speedup_vs_reverse == pytest.approx(p.reverse_macs / p.macs)


def test_plan_fields_and_printing():
    p = jb.plan((50, 5, 100, 10))
    assert p.widths == (50, 5, 100, 10)
    assert p.tree == ((3, 2), 1)
    assert p.formula == "(J3 J2) J1"
    assert (p.macs, p.forward_macs, p.reverse_macs) == (7_500, 75_000, 7_500)
    assert p.speedup_vs_forward == 10.0 and p.speedup_vs_reverse == 1.0
    assert p.memory_bytes("float64") == 8 * p.peak_elements
    text = str(p)
    assert "(J3 J2) J1" in text and "7,500" in text and "10x" in text
    with pytest.raises(AttributeError):
        p.macs = 1  # frozen


def test_plans_are_cached():
    assert jb.plan((4, 5, 6), "optimal") is jb.plan([4, 5, 6], "OPTIMAL")


def test_single_layer_plan():
    p = jb.plan((3, 4))
    assert p.tree == 1 and p.macs == 0 and p.peak_elements == 0
    assert p.speedup_vs_forward == 1.0


def test_hourglass_prefers_the_bottleneck_split():
    p = jb.plan((1000, 1000, 10, 1000, 1000))
    # Split at the bottleneck d_2 = 10: J4 J3 (1000x10) and J2 J1 (10x1000), then one product.
    assert p.tree == ((4, 3), (2, 1)) and p.formula == "(J4 J3) (J2 J1)"
    assert p.macs == 2 * 1000 * 1000 * 10 + 1000 * 10 * 1000 < p.forward_macs


def test_long_chain_plans():
    widths = tuple((i * 37) % 97 + 1 for i in range(301))
    p = jb.plan(widths)
    assert p.macs <= min(p.forward_macs, p.reverse_macs)
    assert p.macs == explicit.cost(widths, p.tree)


def test_huge_widths_use_exact_integers():
    widths = (10**6, 10**6, 1, 10**6, 10**6)
    p = jb.plan(widths)
    assert p.macs == explicit.cost(widths, p.tree)
    assert isinstance(p.macs, int)


def test_unknown_strategy_lists_the_options():
    with pytest.raises(
        jb.JacobenchError,
        match=(
            r"unknown strategy 'sideways'; "
            r"valid options are \['balanced', 'forward', 'optimal', 'reverse'\]"
        ),
    ):
        jb.plan((3, 4, 5), "sideways")


# Memory-aware planning ------------------------------------------------------------------------

short_widths_st = st.lists(st.integers(1, 30), min_size=2, max_size=7).map(tuple)


@given(short_widths_st, st.floats(0, 1), st.sampled_from(["float32", "float64", "bfloat16"]))
@settings(max_examples=150, deadline=None)
def test_budgeted_optimal_fits_and_beats_every_fitting_bracketing(widths, frac, dtype):
    n = len(widths) - 1
    size = {"float32": 4, "float64": 8, "bfloat16": 2}[dtype]
    low, high = jb.plan(widths).peak_elements, jb.plan(widths, "forward").peak_elements
    brute = [(explicit.cost(widths, t), explicit.memory(widths, t)) for t in explicit.trees(n)]
    assert jb.explicit.min_peak(widths) == min(peak for _, peak in brute)
    # A budget anywhere from the least possible peak up to the larger of optimal's and forward's,
    # in bytes, not always a whole number of elements.
    least = min(peak for _, peak in brute)
    budget_bytes = int((least + frac * (max(low, high) - least)) * size) + int(frac * (size - 1))
    p = jb.plan(widths, memory_budget=budget_bytes, dtype=dtype)
    fitting = [macs for macs, peak in brute if peak * size <= budget_bytes]
    assert p.memory_bytes(dtype) <= budget_bytes
    assert p.peak_elements == explicit.memory(widths, p.tree) <= p.budget_elements
    assert p.macs == explicit.cost(widths, p.tree) == min(fitting)
    assert p.budget_elements == budget_bytes // size
    assert p.strategy == "optimal"
    if low * size <= budget_bytes:  # the unconstrained optimum fits: it is the answer
        assert p.tree == jb.plan(widths).tree


@given(short_widths_st, st.integers(0, 5000))
@settings(max_examples=100, deadline=None)
def test_budget_below_the_least_peak_is_refused_with_the_least_peak(widths, budget):
    n = len(widths) - 1
    least = min(explicit.memory(widths, t) for t in explicit.trees(n))
    if least * 4 <= budget:
        assert jb.plan(widths, memory_budget=budget).peak_elements * 4 <= budget
    else:
        with pytest.raises(jb.JacobenchError, match=f"smallest budget that fits is {least * 4:,} "):
            jb.plan(widths, memory_budget=budget)


def test_budgeted_plan_is_cached_and_named_strategies_fit_or_fail():
    widths = (2, 1, 2, 6)  # reverse: 24 MACs, peak 18 elements; forward: 28 MACs, peak 16
    p = jb.plan(widths, memory_budget="64B")
    assert (p.formula, p.macs, p.peak_elements, p.budget_elements) == ("J3 (J2 J1)", 28, 16, 16)
    assert p is jb.plan(list(widths), "Optimal", memory_budget=64, dtype="float32")
    assert p is jb.plan(widths, memory_budget=128, dtype="float64")  # same 16 elements
    assert jb.plan(widths, memory_budget="72B").formula == "(J3 J2) J1"
    assert "Budget elements:       16" in str(p)
    assert jb.plan(widths).budget_elements is None
    assert jb.plan(widths, "forward", memory_budget=64).macs == 28
    assert jb.plan(widths, ((3, 2), 1), memory_budget="1KiB").strategy == "custom"
    with pytest.raises(
        jb.JacobenchError,
        match=re.escape(
            "strategy 'reverse' does not fit widths (2, 1, 2, 6) in the memory budget of 64 "
            "bytes (64 B) with float32 elements; the smallest budget that fits is 72 bytes (72 B)"
        ),
    ):
        jb.plan(widths, "reverse", memory_budget=64)


def test_no_fit_message_is_pinned():
    with pytest.raises(
        jb.JacobenchError,
        match=re.escape(
            "no bracketing fits widths (1000, 1000, 10, 1000, 1000) in the memory budget of "
            "1,048,576 bytes (1 MiB) with float32 elements; the smallest budget that fits is "
            "4,080,000 bytes (3.9 MiB)"
        ),
    ):
        jb.plan((1000, 1000, 10, 1000, 1000), memory_budget="1MiB")


def test_optimal_tree_within_and_min_peak_memory():
    assert jb.explicit.optimal((2, 1, 2, 6), max_peak=18) == ((3, 2), 1)
    assert jb.explicit.optimal((2, 1, 2, 6), max_peak=17) == (3, (2, 1))
    assert jb.explicit.optimal((3, 4), max_peak=0) == 1  # one layer: nothing is made
    with pytest.raises(jb.JacobenchError, match=r"max_peak must be a non-negative int .*, got -1"):
        jb.explicit.optimal((2, 1, 2, 6), max_peak=-1)
    with pytest.raises(
        jb.JacobenchError,
        match=r"no bracketing of widths \(2, 1, 2, 6\) fits in 15 elements; the least peak "
        r"memory any bracketing reaches is 16 elements",
    ):
        jb.explicit.optimal((2, 1, 2, 6), max_peak=15)


def test_budget_and_dtype_errors():
    with pytest.raises(jb.JacobenchError, match=r"memory size '2 GB!' is not understood"):
        jb.plan((3, 4, 5), memory_budget="2 GB!")
    with pytest.raises(jb.JacobenchError, match=r"unknown dtype 'float33'"):
        jb.plan((3, 4, 5), dtype="float33")
