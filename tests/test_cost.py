import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacobench import JacobenchError, explicit
from jacobench.explicit import model

widths_st = st.lists(st.integers(1, 40), min_size=2, max_size=8).map(tuple)

# (widths, tree, macs, peak elements) -- each checked by hand.
HAND_CASES = [
    # A(10x100) B(100x5) C(5x50): (AB)C = 7,500, A(BC) = 75,000.
    ((50, 5, 100, 10), ((3, 2), 1), 7_500, 10 * 5 + 10 * 50),
    ((50, 5, 100, 10), (3, (2, 1)), 75_000, 100 * 50 + 10 * 50),
    ((3, 4), 1, 0, 0),
    ((2, 3, 4), (2, 1), 4 * 3 * 2, 8),
    # forward on (2,3,4,5): J2J1 4x2=8 (24 MACs), J3(..) 5x2=10 (40 MACs), both alive: 18
    ((2, 3, 4, 5), (3, (2, 1)), 24 + 40, 18),
    # (J4 J3)(J2 J1) on (2,3,4,5,6): 4*3*2 + 6*5*4 + 6*4*2 = 24 + 120 + 48; held 8 + 24 + 12
    ((2, 3, 4, 5, 6), ((4, 3), (2, 1)), 192, 44),
]


@pytest.mark.parametrize(("widths", "tree", "macs", "peak"), HAND_CASES)
def test_hand_checked_cases(widths, tree, macs, peak):
    assert explicit.cost(widths, tree) == macs
    assert explicit.memory(widths, tree) == peak


def test_formulas_on_the_textbook_chain():
    assert explicit.forward_macs((50, 5, 100, 10)) == 75_000
    assert explicit.reverse_macs((50, 5, 100, 10)) == 7_500
    assert explicit.forward_macs((7, 9)) == explicit.reverse_macs((7, 9)) == 0


def test_memory_prefers_the_cheaper_child_first():
    # Left subtree (J4 J3) is 100x2, right (J2 J1) is 1x1... choose the order with the lower peak.
    widths = (1, 1, 2, 2, 100)
    tree = ((4, 3), (2, 1))
    left, right, out = 100 * 2, 2 * 1, 100 * 1
    assert explicit.memory(widths, tree) == left + right + out
    steps = explicit.schedule(widths, tree)
    assert steps[-1] == ((3, 4), (1, 2))


@given(widths_st)
@settings(max_examples=200, deadline=None)
def test_forward_and_reverse_trees_match_the_formulas(widths):
    n = len(widths) - 1
    assert explicit.cost(widths, model.forward_tree(n)) == explicit.forward_macs(widths)
    assert explicit.cost(widths, model.reverse_tree(n)) == explicit.reverse_macs(widths)


@given(widths_st)
@settings(max_examples=100, deadline=None)
def test_forward_memory_is_running_product_pairs(widths):
    # Forward holds the previous running product (d_{l-1} x d_0) and the new one (d_l x d_0).
    n = len(widths) - 1
    expected = (
        max(((widths[k - 1] if k > 2 else 0) + widths[k]) * widths[0] for k in range(2, n + 1))
        if n >= 2
        else 0
    )
    assert explicit.memory(widths, model.forward_tree(n)) == expected


@pytest.mark.parametrize("n", range(1, 9))
def test_all_brackets_are_distinct_valid_and_catalan_many(n):
    trees = list(explicit.trees(n))
    assert len(trees) == len(set(trees)) == model.catalan(n - 1)
    for tree in trees:
        assert explicit.validate_tree(tree, n) == tree
    assert model.forward_tree(n) in trees and model.reverse_tree(n) in trees


def test_schedule_covers_every_product_once():
    widths = (3, 1, 4, 1, 5, 9, 2)
    for tree in explicit.trees(6):
        steps = explicit.schedule(widths, tree)
        assert len(steps) == 5
        made = set()
        for (l_lo, l_hi), (r_lo, r_hi) in steps:
            assert r_hi + 1 == l_lo
            for span in ((l_lo, l_hi), (r_lo, r_hi)):
                assert span[0] == span[1] or span in made
            made.add((r_lo, l_hi))
        assert (1, 6) in made
        macs = sum(widths[lh] * widths[ll - 1] * widths[rl - 1] for (ll, lh), (rl, _) in steps)
        assert macs == explicit.cost(widths, tree)


def test_format_tree():
    assert explicit.format(((4, 3), (2, 1))) == "(J4 J3) (J2 J1)"
    assert explicit.format(model.forward_tree(3)) == "J3 (J2 J1)"
    assert explicit.format(model.reverse_tree(3)) == "(J3 J2) J1"
    assert explicit.format(1) == "J1"


def test_deep_chains_do_not_recurse():
    n = 5000
    widths = (3,) * (n + 1)
    assert explicit.cost(widths, model.forward_tree(n)) == 27 * (n - 1)
    assert explicit.cost(widths, model.reverse_tree(n)) == 27 * (n - 1)


def test_exact_integers_for_huge_widths():
    widths = (10**7, 10**7, 10**7)
    assert explicit.forward_macs(widths) == 10**21
    assert explicit.cost(widths, (2, 1)) == 10**21
    assert math.prod(widths) == 10**21


# --- bad input, messages pinned -------------------------------------------------------------


@pytest.mark.parametrize(
    ("widths", "message"),
    [
        ((), r"widths must have at least two entries .* got \(\) \(0 entries\)"),
        ((5,), r"widths must have at least two entries .* got \(5,\) \(1 entry\)"),
        (
            (3, 0, 4),
            r"widths\[1\] = 0 is not positive, expected a positive integer in widths \(3, 0, 4\)",
        ),
        ((3, -2), r"widths\[1\] = -2 is not positive"),
        ((3, 2.5), r"widths\[1\] = 2.5 is of type float, expected a positive integer"),
        ((3.0, 2), r"widths\[0\] = 3.0 is a float; pass an int, expected a positive integer"),
        ((3, "4"), r"widths\[1\] = '4' is of type str"),
        ((3, True), r"widths\[1\] = True is of type bool"),
        ("34", r"widths must be a sequence of positive integers"),
        (7, r"widths must be a sequence of positive integers \(d_0, \.\.\., d_L\), got 7"),
    ],
)
def test_bad_widths(widths, message):
    with pytest.raises(JacobenchError, match=message):
        explicit.forward_macs(widths)


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ((1, 2), r"its leaves read \[1, 2\], expected \[2, 1\]"),
        ((2, 1, 0), r"node \(2, 1, 0\) has 3 entries, expected 2"),
        (((3, 2), 1), r"its leaves read \[3, 2, 1\], expected \[2, 1\]"),
        ((2, "1"), r"leaf '1' is not a layer index"),
        (2, r"its leaves read \[2\], expected \[2, 1\]"),
    ],
)
def test_bad_trees(tree, message):
    with pytest.raises(JacobenchError, match=r"bracket .* is not a bracketing of layers 2\.\.1"):
        explicit.cost((3, 4, 5), tree)
    with pytest.raises(JacobenchError, match=message):
        explicit.cost((3, 4, 5), tree)


def test_error_is_a_value_error():
    assert issubclass(JacobenchError, ValueError)


@pytest.mark.parametrize("n", range(1, 12))
def test_balanced_tree_is_a_valid_bracketing(n):
    tree = model.balanced_tree(n)
    assert explicit.validate_tree(tree, n) == tree
