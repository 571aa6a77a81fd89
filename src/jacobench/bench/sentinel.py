"""Watching the machine between rows: one fixed program, timed again and again.

On a shared machine another tenant's work can slow everything down for seconds or minutes (a
*spell*). A row timed during one reads too slow, and the time model, which describes the machine
at its usual speed, cannot predict it. The benchmark watches for spells with a *sentinel*: one
fixed program (a float32 matrix product, ``512 x 512`` by ``512 x 256``, on the row's backend),
whose time is read just before and just after each row's timed rounds. The sentinel's *ratio* is
a reading over the median of the readings so far:

- before a row, a ratio over :data:`SPELL` means a spell: the row waits for it to pass (reading
  again every :data:`POLL_S`), within a budget of seconds per row and per run;
- after a row, a ratio over :data:`SPELL` means a spell began during it: the row is timed again
  once the sentinel reads its usual, and that timing stands if the sentinel still reads its usual
  after it.

Whether a row is timed again depends on the machine alone, never on the row's time or on what a
model predicted of it. Each row records the ratio around the timing that stands, the seconds it
waited and whether it was timed again; the report counts them.

Example:
    A fake program on a fake clock: it takes 1 ms, and 2 ms during a spell from 0.1 s to 0.3 s.

    >>> now = [0.0]
    >>> def program():
    ...     now[0] += 2e-3 if 0.1 <= now[0] < 0.3 else 1e-3
    >>> sentinel = Sentinel(program, clock=lambda: now[0])
    >>> [round(sentinel.check(), 2) for _ in range(3)]  # quiet: its usual pace
    [1.0, 1.0, 1.0]
    >>> now[0] = 0.1  # the spell begins
    >>> round(sentinel.check(), 2)
    2.0
    >>> ratio, waited = sentinel.settle(limit_s=5.0)  # waits until the spell has passed
    >>> round(ratio, 2), waited
    (1.0, 0.25)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import JacobenchError

__all__ = [
    "FIRST",
    "POLL_S",
    "RETIMES",
    "ROW_WAIT_S",
    "SHAPE",
    "SPELL",
    "WARM_S",
    "Sentinel",
    "Watch",
    "for_backend",
]

SPELL = 1.3
"""A sentinel reading this many times its usual (the median so far) or more means a spell.

Measured on this project's 2-core VM (``/work/notes/perf8/quant2.py``, readings back to back): in
a quiet stretch the JAX sentinel's mean of 14 calls read within 1.31x of its median nine times in
ten (2x at most: hiccups of a few milliseconds, which :meth:`Sentinel.check` reads twice more);
with a busy process beside it (one of two cores taken), 1.76x at the median. Between the rows of
a benchmark, where the cores are warm, it read within 1.17x nine times in ten and 1.30x at most
(fresh clones fc35-fc37, rows that stood).
"""

POLL_S = 0.25
"""Seconds between two readings while waiting for a spell to pass, spent calling the program.

Not asleep: on this project's VM a core left idle for 0.25 s or more runs the sentinel 1.3-2x
slower for the next 50 ms or so (``/work/notes/perf8/wake.py``), so a reading after a sleep
would read a spell that is not there."""

WARM_S = 3e-3
"""Seconds of calls before a reading's timed ones: the program's data back in the caches, the
cores awake, after whatever ran before (a compile, numpy's threads, a row's program)."""

SHAPE = (512, 512, 256)
"""``(m, k, n)`` of the sentinel's matrix product: about 0.7 ms on this project's CPU, so a
reading takes about 10 ms."""

ROW_WAIT_S = 10.0
"""Seconds one row may wait for spells to pass, before its timing and before timing it again."""

RETIMES = 3
"""Times a row is timed again at most, while the sentinel reads a spell after each timing."""

T = TypeVar("T")

FIRST = 3
"""Readings before a ratio means anything: until then every reading's ratio is 1."""


class Sentinel:
    """One fixed program, and its readings so far.

    Args:
        call: The program; blocks until its result is ready.
        reads: Timed calls per reading, after :data:`WARM_S` seconds of calls (one at least);
            a reading is their mean (the throughput a spell takes away, which a median of a
            few calls can miss while another process comes and goes).
        clock: Seconds (``time.perf_counter``).

    Raises:
        JacobenchError: ``reads`` under 1.
    """

    def __init__(
        self,
        call: Callable[[], Any],
        reads: int = 10,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if reads < 1:
            raise JacobenchError(f"a sentinel reading needs at least 1 call; got reads={reads}")
        self.call, self.reads, self.clock = call, reads, clock
        self.readings: list[float] = []

    @property
    def usual(self) -> float:
        """The median of the recorded readings, in seconds (NaN before the first)."""
        return statistics.median(self.readings) if self.readings else float("nan")

    def read(self, record: bool = True) -> float:
        """Time the program now; returns the reading over :attr:`usual` (1.0 for the first few).

        Args:
            record: Whether the reading joins those the usual is the median of. Polls while
                waiting for a spell to pass are not recorded: a long spell would otherwise
                become the usual.
        """
        self.spin(WARM_S)
        samples = []
        for _ in range(self.reads):
            start = self.clock()
            self.call()
            samples.append(self.clock() - start)
        seconds = statistics.fmean(samples)
        if record:
            self.readings.append(seconds)
        if len(self.readings) < FIRST:
            return 1.0
        return seconds / self.usual

    def spin(self, seconds: float) -> None:
        """Call the program for ``seconds`` (once at least): the cores kept awake."""
        until = self.clock() + seconds
        self.call()
        while self.clock() < until:
            self.call()

    def check(self) -> float:
        """Read the sentinel; a reading of a spell is checked by two more, at once.

        Returns:
            The ratio of the reading, or where it reads :data:`SPELL` or more, the median of
            the three ratios: a spell slows them all, a hiccup of a few milliseconds one.
        """
        ratio = self.read()
        if ratio >= SPELL:
            ratio = statistics.median([ratio, self.read(record=False), self.read(record=False)])
        return ratio

    def settle(self, limit_s: float) -> tuple[float, float]:
        """:meth:`check` the sentinel; during a spell, wait and check again, up to ``limit_s``.

        Returns:
            The last ratio and the seconds waited.
        """
        ratio = self.check()
        waited = 0.0
        while ratio >= SPELL and waited + POLL_S <= limit_s:
            self.spin(POLL_S)
            waited += POLL_S
            ratio = statistics.median(self.read(record=False) for _ in range(3))
        return ratio, waited


def for_backend(backend: str) -> Sentinel:
    """The sentinel for rows of ``backend`` ("jax": JAX's default device; "numpy": the host).

    Each backend has its own: numpy's BLAS threads and XLA's thread pool wake and spin
    differently, so each row is compared with readings taken in the same state.

    Raises:
        JacobenchError: An unknown backend.
    """
    m, k, n = SHAPE
    if backend == "numpy":
        import numpy as np

        rng = np.random.default_rng(0)
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        return Sentinel(lambda: a @ b)
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        x = jnp.ones((m, k), jnp.float32)
        y = jnp.ones((k, n), jnp.float32)
        compiled = jax.jit(jnp.matmul).lower(x, y).compile()
        return Sentinel(lambda: compiled(x, y).block_until_ready())
    raise JacobenchError(f"unknown backend {backend!r} for a sentinel; expected 'jax' or 'numpy'")


class Watch:
    """A run's sentinels, one per backend, and its seconds for waiting out spells.

    Args:
        budget_s: Seconds the whole run may wait (``--spell-wait``).
        row_s: Seconds one row may wait.
        make: Makes the sentinel of a backend (:func:`for_backend`); it is read :data:`FIRST`
            times when made, so that the first rows' readings mean something.

    Example:
        A spell from 0.1 s to 0.3 s on a fake clock, as in the module's example.

        >>> now = [0.0]
        >>> def program():
        ...     now[0] += 2e-3 if 0.1 <= now[0] < 0.3 else 1e-3
        >>> watch = Watch(budget_s=60.0, make=lambda b: Sentinel(program, clock=lambda: now[0]))
        >>> _ = watch.sentinel("jax")  # made, and read a few times, while the machine is quiet
        >>> now[0] = 0.1
        >>> ratio, waited = watch.settle("jax", waited=0.0)
        >>> round(ratio, 2), waited, watch.left_s
        (1.0, 0.25, 59.75)
    """

    def __init__(
        self,
        budget_s: float = 60.0,
        row_s: float = ROW_WAIT_S,
        make: Callable[[str], Sentinel] | None = None,
    ) -> None:
        self.left_s, self.row_s = budget_s, row_s
        self.make = make or for_backend
        self.sentinels: dict[str, Sentinel] = {}

    def sentinel(self, backend: str) -> Sentinel:
        """The sentinel for rows of ``backend``, made at its first row."""
        if backend not in self.sentinels:
            made = self.sentinels[backend] = self.make(backend)
            for _ in range(FIRST):
                made.read()
        return self.sentinels[backend]

    def settle(self, backend: str, waited: float) -> tuple[float, float]:
        """:meth:`Sentinel.settle`, within the row's and the run's budgets.

        Args:
            backend: The row's backend.
            waited: The seconds the row has waited already.

        Returns:
            The sentinel's last ratio and the seconds the row has waited in all.
        """
        limit = max(0.0, min(self.row_s - waited, self.left_s))
        ratio, more = self.sentinel(backend).settle(limit)
        self.left_s -= more
        return ratio, waited + more

    def check(self, backend: str) -> float:
        """:meth:`Sentinel.check` of the backend's sentinel."""
        return self.sentinel(backend).check()

    def time_again(
        self, backend: str, timing: Callable[[], T], waited: float
    ) -> tuple[T | None, float, float]:
        """Wait for a spell to pass, then ``timing()`` again, up to :data:`RETIMES` times.

        Args:
            backend: The row's backend.
            timing: Times the row's rounds again and returns what was measured.
            waited: The seconds the row has waited already.

        Returns:
            The new timing (``None`` when the spell did not pass within the budgets, or was read
            again after each new timing: the first timing stands then), the sentinel's ratio
            around it, and the seconds the row has waited in all.
        """
        after = SPELL
        for _ in range(RETIMES):
            ratio, waited = self.settle(backend, waited)
            if ratio >= SPELL:
                return None, ratio, waited
            measured = timing()
            after = max(ratio, self.check(backend))
            if after < SPELL:
                return measured, after, waited
        return None, after, waited
