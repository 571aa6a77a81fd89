import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench import cost

widths_st = st.lists(st.integers(1, 30), min_size=2, max_size=8).map(tuple)


@given(widths_st)
@settings(max_examples=150, deadline=None)
def test_optimal_is_never_beaten_and_every_plan_costs_its_tree(widths):
    n = len(widths) - 1
    best = jb.plan(widths, "optimal")
    brute = min(cost.tree_macs(widths, t) for t in cost.all_brackets(n))
    assert best.macs == brute
    for tree in cost.all_brackets(n):
        p = jb.plan(widths, tree)
        assert p.macs == cost.tree_macs(widths, tree) >= best.macs
        assert p.peak_memory == cost.tree_memory(widths, tree)
        assert p.strategy == "custom"
    assert jb.plan(widths, "forward").macs == jb.forward_macs(widths)
    assert jb.plan(widths, "reverse").macs == jb.reverse_macs(widths)


@pytest.mark.parametrize("name", sorted(jb.STRATEGIES))
def test_every_registered_strategy_gives_a_valid_costed_plan(name):
    widths = (7, 3, 9, 2, 8, 5)
    p = jb.plan(widths, name.upper())
    assert p.strategy == name
    assert cost.validate_tree(p.bracket, 5) == p.bracket
    assert p.macs == cost.tree_macs(widths, p.bracket)
    assert p.speedup_vs_forward == pytest.approx(p.forward_macs / p.macs)
    assert p.speedup_vs_reverse == pytest.approx(p.reverse_macs / p.macs)


def test_plan_fields_and_printing():
    p = jb.plan((50, 5, 100, 10))
    assert p.widths == (50, 5, 100, 10)
    assert p.bracket == ((3, 2), 1)
    assert p.formula == "(J3 J2) J1"
    assert (p.macs, p.forward_macs, p.reverse_macs) == (7_500, 75_000, 7_500)
    assert p.speedup_vs_forward == 10.0 and p.speedup_vs_reverse == 1.0
    assert p.memory_bytes("float64") == 8 * p.peak_memory
    text = str(p)
    assert "(J3 J2) J1" in text and "7,500" in text and "10x" in text
    with pytest.raises(AttributeError):
        p.macs = 1  # frozen


def test_plans_are_cached():
    assert jb.plan((4, 5, 6), "optimal") is jb.plan([4, 5, 6], "OPTIMAL")


def test_single_layer_plan():
    p = jb.plan((3, 4))
    assert p.bracket == 1 and p.macs == 0 and p.peak_memory == 0
    assert p.speedup_vs_forward == 1.0


def test_hourglass_prefers_the_bottleneck_split():
    p = jb.plan((1000, 1000, 10, 1000, 1000))
    assert p.formula == "J4 (J3 (J2 J1))" or p.macs <= min(p.forward_macs, p.reverse_macs)
    assert p.macs < p.forward_macs


def test_long_chain_plans():
    widths = tuple((i * 37) % 97 + 1 for i in range(301))
    p = jb.plan(widths)
    assert p.macs <= min(p.forward_macs, p.reverse_macs)
    assert p.macs == cost.tree_macs(widths, p.bracket)


def test_huge_widths_use_exact_integers():
    widths = (10**6, 10**6, 1, 10**6, 10**6)
    p = jb.plan(widths)
    assert p.macs == cost.tree_macs(widths, p.bracket)
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
