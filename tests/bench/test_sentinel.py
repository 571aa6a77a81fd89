"""The sentinel between rows: spells read, waited out, and rows timed again."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from pytest_benchmark.stats import Stats

from jacobench import JacobenchError
from jacobench.bench import sentinel, tidy
from jacobench.bench.suites import conftest


class Machine:
    """A fake clock and a fake program: 1 ms a call, ``slow`` ms during a spell."""

    def __init__(self, slow: float = 2.0) -> None:
        self.now = 0.0
        self.spells: list[tuple[float, float]] = []  # (from, until) on the fake clock
        self.slow = slow
        self.hiccup = 0  # calls still to run slow, whatever the clock says

    def clock(self) -> float:
        return self.now

    def program(self) -> None:
        spell = any(a <= self.now < b for a, b in self.spells)
        slow = spell or self.hiccup > 0
        self.hiccup = max(0, self.hiccup - 1)
        self.now += (self.slow if slow else 1.0) * 1e-3

    def sentinel(self) -> sentinel.Sentinel:
        watched = sentinel.Sentinel(self.program, clock=self.clock)
        for _ in range(sentinel.FIRST):
            watched.read()
        return watched


def test_a_quiet_machine_reads_its_usual_pace():
    machine = Machine()
    watched = machine.sentinel()
    assert [watched.check() for _ in range(5)] == pytest.approx([1.0] * 5)
    assert watched.usual == pytest.approx(1e-3)


def test_a_spell_reads_slow_and_a_hiccup_does_not():
    machine = Machine(slow=3.0)
    watched = machine.sentinel()
    machine.hiccup = 11  # one warm-up call and the first reading's ten: the next two read quiet
    assert watched.check() < sentinel.SPELL
    machine.spells.append((machine.now, machine.now + 1.0))
    assert watched.check() == pytest.approx(3.0)
    # the readings taken to check a spell do not become the usual
    assert watched.usual == pytest.approx(1e-3)


def test_settle_waits_for_a_spell_to_pass_within_its_limit():
    machine = Machine()
    watched = machine.sentinel()
    machine.spells.append((machine.now, machine.now + 1.0))
    ratio, waited = watched.settle(limit_s=5.0)
    assert ratio < sentinel.SPELL and 0.75 <= waited <= 1.25 and waited % sentinel.POLL_S == 0
    machine.spells.append((machine.now, machine.now + 100.0))
    ratio, waited = watched.settle(limit_s=0.6)  # gives up: the spell is still on
    assert ratio == pytest.approx(2.0) and waited == 0.5
    assert watched.settle(limit_s=0.0)[1] == 0.0


def test_bad_sentinels_are_refused():
    with pytest.raises(JacobenchError, match="at least 1 call; got reads=0"):
        sentinel.Sentinel(lambda: None, reads=0)
    with pytest.raises(JacobenchError, match="unknown backend 'gpu' for a sentinel"):
        sentinel.for_backend("gpu")


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_each_backend_has_a_real_sentinel(backend):
    watched = sentinel.for_backend(backend)
    assert [watched.read() for _ in range(2)] == [1.0, 1.0]  # too few readings to compare
    assert 0 < watched.usual < 1


class Benchmark:
    """pytest-benchmark's fixture, as far as ``check_then_time`` uses it."""

    def __init__(self, machine: Machine, first_s: float, spell_s: float, then=None) -> None:
        self.extra_info: dict = {}
        self.machine, self.first_s, self.spell_s, self.then = machine, first_s, spell_s, then

    def pedantic(self, call, rounds, iterations, warmup_rounds):
        stats = Stats()
        for _ in range(rounds):
            stats.update(self.first_s)
        self.stats = SimpleNamespace(stats=stats)
        if self.spell_s:  # a spell began during the rounds, and lasts this long
            now = self.machine.now
            self.machine.spells.append((now, now + self.spell_s))
        if self.then is not None:
            self.then()


def timed_row(
    monkeypatch, spell_s: float, budget_s: float = 60.0, machine=None, call=None, then=None
) -> dict:
    """``check_then_time`` on a real call, with a fake sentinel; the row as tidy writes it.

    ``then`` runs once the first rounds are timed.
    """
    machine = machine or Machine()
    made = sentinel.Sentinel(machine.program, clock=machine.clock)
    monkeypatch.setattr(conftest, "_WATCH", sentinel.Watch(budget_s, make=lambda backend: made))
    monkeypatch.setitem(conftest._TIMING, "warmup_s", 0.0)
    benchmark = Benchmark(machine, first_s=0.5, spell_s=spell_s, then=then)
    info = {"depth": 1, "backend": "jax", "strategy": "forward"}
    ref = np.ones(3)
    call = call or (lambda: np.ones(3))
    conftest.check_then_time(benchmark, info, call, ref, "a row", target_s=1e-3)
    raw = {"benchmarks": [{"name": "t", "stats": benchmark.stats.stats.as_dict(),
                           "extra_info": benchmark.extra_info}]}  # fmt: skip
    return tidy.build_frame(raw, [], run_id="r").iloc[0].to_dict()


def test_a_row_a_spell_began_during_is_timed_again_once_it_has_passed(monkeypatch):
    row = timed_row(monkeypatch, spell_s=1.0)
    assert row["retimed"] and row["time_first_median_s"] == 0.5
    assert row["time_median_s"] < 0.01  # the second rounds: the real call's
    assert row["sentinel_ratio"] < sentinel.SPELL and 0.75 <= row["spell_wait_s"] <= 1.25
    assert conftest._WATCH.left_s == 60.0 - row["spell_wait_s"]


def test_a_quiet_row_keeps_its_first_timing(monkeypatch):
    row = timed_row(monkeypatch, spell_s=0.0)
    assert not row["retimed"] and row["time_median_s"] == 0.5
    assert math.isnan(row["time_first_median_s"]) and row["spell_wait_s"] == 0.0
    assert row["sentinel_ratio"] == pytest.approx(1.0)


def test_a_spell_that_outlasts_the_budget_leaves_the_first_timing_marked(monkeypatch):
    row = timed_row(monkeypatch, spell_s=100.0, budget_s=2.0)
    assert not row["retimed"] and row["time_median_s"] == 0.5
    assert row["sentinel_ratio"] >= sentinel.SPELL and row["spell_wait_s"] == 2.0
    assert conftest._WATCH.left_s == 0.0
    # a row waits at most ROW_WAIT_S, whatever the run's budget
    row = timed_row(monkeypatch, spell_s=100.0, budget_s=60.0)
    assert row["spell_wait_s"] == sentinel.ROW_WAIT_S and not row["retimed"]


def test_a_spell_read_after_the_new_rounds_has_them_timed_once_more(monkeypatch):
    machine = Machine()
    armed = []

    def call():  # the first call of the second timing: another spell, of 0.5 s
        if armed:
            armed.pop()
            machine.spells.append((machine.now, machine.now + 0.5))
        return np.ones(3)

    row = timed_row(monkeypatch, 1.0, machine=machine, call=call, then=lambda: armed.append(1))
    assert row["retimed"] and row["sentinel_ratio"] < sentinel.SPELL
    assert 1.25 <= row["spell_wait_s"] <= 2.0  # the first spell, then the second
