"""numpy's and JAX's measurements for :func:`~jacobench.timing.micro.calibrate` (internal).

:class:`_Numpy` and :class:`_Jax` implement the operations that
:class:`~jacobench.timing._driver._Backend` times: the call and launch overheads, a streaming
operation, the weight cycles, element-wise operations and one matrix product. JAX's compiles its
programs before they are timed, a dtype's products all at once on :data:`COMPILE_THREADS`
threads (:meth:`_Jax.prepare`), and chains quick products (:func:`_chained`).

Example:
    >>> from jacobench.timing._driver import _Meter
    >>> bench = _Numpy(_Meter(lambda fraction, message: None, steps=1, quick=True), quick=True)
    >>> 0 < bench.matmul(16, 16, 16, "float32") < 0.1
    True
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._driver import _ELEMENTWISE_N, _WEIGHT_SIDE, SIDE_COLUMNS, _Backend

COMPILE_THREADS: int | None = None
"""Threads that compile a dtype's product programs before any of them is timed (XLA releases the
GIL while it compiles). ``None``: every host core; 0: each program is compiled when it is first
timed instead.

Compiling first and then timing the products back to back matters on a CPU too, which is why
the default compiles ahead there as well: it spares the grid's timing a compile between one
shape and the next, during which a 2-vCPU VM's second vCPU idles and then runs the next
product's first calls on one thread about half the time (slow to wake). Four calibrations each
way timed ``(16, 1024, 1024)`` at 0.28, 0.29, 0.19 and 0.20 ms compiling as they went, 0.18,
0.18, 0.20 and 0.19 ms compiled ahead (three more later: 0.32, 0.17, 0.20; steady median over
300 calls: 0.20 ms); JAX's float32
grid took 27 s one way and 21 s the other. Other shapes kept their spread (``(256, 256, 256)``:
0.19-0.32 ms either way)."""


def _wait(out: Any) -> Any:
    """Block until JAX has computed ``out``."""
    return out.block_until_ready()


_FREE = ("parameter", "constant", "bitcast", "tuple", "get-tuple-element")


def _launched(compiled: Any) -> int:
    """Operations a compiled JAX function launches.

    They are its entry computation's instructions, less parameters, constants, bitcasts and
    tuples (which cost nothing).
    """
    text = compiled.as_text()
    entry = text[text.index("ENTRY") :].split("\n}", 1)[0].splitlines()[1:]
    ops = [re.search(r"= \S+ ([a-z-]+)\(", line) for line in entry]
    return sum(1 for op in ops if op is not None and op.group(1) not in _FREE)


class _Numpy(_Backend):
    name = "numpy"

    def overheads(self) -> tuple[float, float, float]:
        from ..explicit import multiply, plan

        tiny = np.full((1, 1), 0.5)
        one, eight = [tiny], [tiny] * 8
        plan1, plan8 = plan((1, 1)), plan((1,) * 9, "forward")
        per_op, call, call8 = self.meter.floor(
            lambda: tiny @ tiny, lambda: multiply(one, plan1), lambda: multiply(eight, plan8)
        )
        per_arg = max((call8 - call) / 7 - per_op, 0.0)
        return call, per_arg, per_op

    def stream(self, n: int) -> float:
        v = np.full(n, 0.5, dtype=np.float32)
        return self.meter.floor(lambda: v * np.float32(2.0))[0]

    def cycle(self, n: int, rounds: int) -> float:
        side = _WEIGHT_SIDE
        weights = [np.full((side, side), 0.5 / side, dtype=np.float32) for _ in range(n)]
        h0 = np.full(side, 0.5, dtype=np.float32)

        def run() -> None:
            h = h0
            for _ in range(rounds):
                for w in weights:
                    h = np.tanh(w @ h)

        return self.meter.floor(run)[0]

    def side_cycles(self, n: int, rounds: int) -> tuple[float, float]:
        side = _WEIGHT_SIDE
        weights = [np.full((side, side), 0.5 / side, dtype=np.float32) for _ in range(n)]

        def program(on_left: bool) -> Callable[[], None]:
            h0 = np.full((side, SIDE_COLUMNS) if on_left else (SIDE_COLUMNS, side), 0.5, np.float32)

            def run() -> None:
                h = h0
                for _ in range(rounds):
                    for w in weights:
                        h = np.tanh(w @ h if on_left else h @ w)

            return run

        first, second = self.meter.floor(program(True), program(False))
        return first, second

    def elementwise(self, dtype: str, transcendental: bool) -> float:
        v = np.full(_ELEMENTWISE_N, 0.5, dtype=dtype)
        if transcendental:
            return self.meter.floor(lambda: np.tanh(v))[0]
        return self.meter.floor(lambda: v * (1 - v * v))[0]

    def matmul(self, m: int, k: int, n: int, dtype: str) -> float:
        a, b = self.operands.get(m, k, n, dtype)
        return self.meter.seconds(lambda: a @ b)


class _Jax(_Backend):
    name = "jax"
    ahead = False  # programs compiled ahead (see prepare)

    def dtype_context(self, dtype: str) -> Any:
        import jax

        return jax.enable_x64(dtype == "float64")

    def _array(self, shape: tuple[int, ...], dtype: str) -> Any:
        import jax

        return jax.device_put(np.full(shape, 0.5, dtype=dtype))

    def overheads(self) -> tuple[float, float, float]:
        import jax
        import jax.numpy as jnp

        args = [self._array((1,), "float32") for _ in range(8)]
        a, h = self._array((8, 8), "float32"), self._array((8,), "float32")
        eye = jnp.eye(8, dtype="float32")

        def chain(n: int) -> Callable[[Any, Any], Any]:
            def f(a: Any, h: Any) -> Any:
                w = a * 0 + eye  # the identity: values stay put, nothing folds away
                for _ in range(n):
                    h = w @ h
                return h

            return f

        one = jax.jit(lambda x: x + 1).lower(args[0]).compile()
        many = jax.jit(lambda *xs: sum(xs)).lower(*args).compile()
        lengths = (5, 17) if self.quick else (9, 65)
        short, long = (jax.jit(chain(n)).lower(a, h).compile() for n in lengths)
        w, x = self._array((64, 64), "float32"), self._array((64, 64), "float32")
        products = [_chained(64, 64, 64, r).lower(w, x).compile() for r in (2, 8)]
        call1, call8, t_short, t_long, t2, t8 = self.meter.floor(
            lambda: _wait(one(args[0])),
            lambda: _wait(many(*args)),
            lambda: _wait(short(a, h)),
            lambda: _wait(long(a, h)),
            lambda: _wait(products[0](w, x)),
            lambda: _wait(products[1](w, x)),
        )
        per_op = max((t_long - t_short) / max(_launched(long) - _launched(short), 1), 0.0)
        per_arg = max((call8 - call1) / 7, 0.0)
        # The fixed cost of a call of two arguments: the chains of 2 and of 8 products of
        # 64x64 matrices (real products wake XLA's worker threads, which tiny ones do not)
        # extrapolated to none.
        self.fixed = max(t2 - 2 * (t8 - t2) / 6, call1)
        self.per_arg, self.per_op = per_arg, per_op
        return self.fixed - per_arg, per_arg, per_op

    def _looped(self, body: Callable[[Any], Any], v: Any, trips: int) -> float:
        """Seconds of one element-wise operation ``v = body(v)``, launch included.

        XLA fuses a straight chain of element-wise operations into one, so these run in a loop:
        timed at 1 and at ``1 + trips`` trips (the least of two medians each), the difference is
        ``trips`` operations, free of the call's fixed cost; a loop of one-element operations,
        timed the same way, gives the loop's own cost per trip, which is taken off.
        """
        import jax
        import jax.numpy as jnp

        def per_trip(w: Any) -> float:
            def f(w: Any, r: Any) -> Any:
                return jax.lax.fori_loop(0, r, lambda i, w: body(w), w)

            compiled = jax.jit(f).lower(w, jnp.int32(1)).compile()
            few, many = jnp.int32(1), jnp.int32(1 + trips)
            t1, t2 = self.meter.floor(
                lambda: _wait(compiled(w, few)), lambda: _wait(compiled(w, many)), tries=2
            )
            return max(t2 - t1, 0.0) / trips

        if self.loop_s is None:
            self.loop_s = per_trip(self._array((1,), "float32"))
        return max(per_trip(v) - self.loop_s, 0.0) + self.per_op

    def cycle(self, n: int, rounds: int) -> float:
        import jax
        import jax.numpy as jnp

        side = _WEIGHT_SIDE
        weights = tuple(self._array((side, side), "float32") for _ in range(n))
        h = self._array((side,), "float32")

        def f(weights: Any, h: Any) -> Any:
            for _ in range(rounds):
                for w in weights:
                    h = jnp.tanh(w @ h)
            return h

        compiled = jax.jit(f).lower(weights, h).compile()
        return self.meter.floor(lambda: _wait(compiled(weights, h)))[0]

    def side_cycles(self, n: int, rounds: int) -> tuple[float, float]:
        import jax
        import jax.numpy as jnp

        side = _WEIGHT_SIDE
        weights = tuple(self._array((side, side), "float32") for _ in range(n))
        blocks = (
            self._array((side, SIDE_COLUMNS), "float32"),
            self._array((SIDE_COLUMNS, side), "float32"),
        )

        def program(on_left: bool) -> Callable[[], Any]:
            def f(weights: Any, h: Any) -> Any:
                for _ in range(rounds):
                    for w in weights:
                        h = jnp.tanh(w @ h if on_left else h @ w)
                return h

            h = blocks[0] if on_left else blocks[1]
            compiled = jax.jit(f).lower(weights, h).compile()
            return lambda: _wait(compiled(weights, h))

        first, second = self.meter.floor(program(True), program(False))
        return first, second

    def stream(self, n: int) -> float:
        # Enough trips to move 256 MiB: fewer left the difference of two timings of a few
        # trips in the noise (16 MiB once read 761 GB/s on a 2-core CPU).
        trips = max(2, min(4096, (1 << 28) // max(8 * n, 1)))
        return self._looped(lambda x: x * 0.999 + 0.0005, self._array((n,), "float32"), trips)

    def elementwise(self, dtype: str, transcendental: bool) -> float:
        import jax.numpy as jnp

        def body(x: Any) -> Any:
            return jnp.tanh(x) + 0.25 if transcendental else 1 - x * x

        return self._looped(body, self._array((_ELEMENTWISE_N,), dtype), 8)

    def matmul(self, m: int, k: int, n: int, dtype: str) -> float:
        """One product's seconds, from a chain of ``r`` of them.

        With ``r`` > 1, the chain's time less that of a single product, over ``r - 1``, less a
        link: no fixed cost of a call enters (it is hard to measure to a few microseconds, and
        these products take tens of microseconds). With ``r`` = 1 (products of milliseconds), the
        product's time less the call's fixed cost.
        """
        import jax

        a, b = (jax.device_put(v) for v in self.operands.get(m, k, n, dtype))
        r = self.repeats.get((m, k, n), 1)
        chain = self._program(m, k, n, r, a, b)
        if r == 1:
            return self.meter.seconds(lambda: _wait(chain(a, b))) - self.fixed
        one = self._program(m, k, n, 1, a, b)
        extra = self.meter.difference(lambda: _wait(chain(a, b)), lambda: _wait(one(a, b)))
        link = self.link_s(min(m * k, k * n) * a.dtype.itemsize)
        return extra / (r - 1) - link

    def _program(self, m: int, k: int, n: int, r: int, a: Any, b: Any) -> Any:
        """The compiled chain of ``r`` products (compiled now unless :meth:`prepare` did)."""
        compiled = self.compiled.get((m, k, n, r))
        if compiled is None:
            compiled = self.compiled[m, k, n, r] = _chained(m, k, n, r).lower(a, b).compile()
        return compiled

    def plan_repeats(self, shape: tuple[int, int, int], estimate_s: float) -> None:
        """Chain more products of a shape the quicker it is (see :meth:`matmul`).

        Where programs are compiled ahead (:meth:`prepare`), two lengths only: ``most`` or 1.
        """
        most = 2 if self.quick else 8
        if self.ahead:
            self.repeats[shape] = most if estimate_s < 2e-4 else 1
        elif estimate_s < 2e-5:
            self.repeats[shape] = most
        else:
            self.repeats[shape] = min(most, 4) if estimate_s < 2e-3 else 1

    def prepare(self, shapes: Sequence[tuple[int, int, int]], dtype: str) -> None:
        """Compile every program :meth:`matmul` may time, all at once, before any is timed.

        Which chain length a shape gets depends on what was measured before it, so each shape's
        programs of both lengths it may get are compiled (the longer one only for shapes small
        enough to need it): lowered here, in this thread's dtype and matmul precision, then
        compiled on :data:`COMPILE_THREADS` threads.
        """
        import jax

        threads = _compile_threads()
        if threads < 1:
            return
        self.ahead = True
        most = 2 if self.quick else 8
        wanted = []
        for m, k, n in shapes:
            small = 2.0 * m * k * n <= _CHAIN_FLOPS
            for r in (1, most) if small else (1,):
                if (m, k, n, r) not in self.compiled:
                    wanted.append((m, k, n, r))
        spec: Callable[..., Any] = jax.ShapeDtypeStruct  # the operands' shapes, no arrays
        lowered = [
            _chained(m, k, n, r).lower(spec((m, k), dtype), spec((k, n), dtype))
            for m, k, n, r in wanted
        ]
        self.meter.report(
            min(self.meter.done / self.meter.steps, 0.99),
            f"{self.name} {dtype}: compiling {len(lowered)} programs on {threads} threads",
        )
        with ThreadPoolExecutor(max_workers=threads) as pool:
            programs = pool.map(lambda lw: lw.compile(), lowered)
            self.compiled.update(zip(wanted, programs, strict=True))


_CHAIN_FLOPS = 2.0 * 1024**3
"""Products of more flops than this are never chained when compiled ahead (on an accelerator they
take well over 20 microseconds)."""


def _compile_threads() -> int:
    """How many threads compile ahead: :data:`COMPILE_THREADS`, else every host core."""
    if COMPILE_THREADS is not None:
        return COMPILE_THREADS
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _chained(m: int, k: int, n: int, r: int) -> Any:
    """``jax.jit`` of ``r`` products ``(m x k) @ (k x n)``, each waiting for the one before.

    Each product after the first adds zero times an element of the previous result to its
    smaller operand: a data dependency (XLA neither reorders nor merges them) that costs one
    element-wise operation over that operand.
    """
    import jax

    def f(a: Any, b: Any) -> Any:
        c = a @ b
        for _ in range(r - 1):
            zero = c[0, 0] * 0
            c = (a + zero) @ b if m * k <= k * n else a @ (b + zero)
        return c

    return jax.jit(f)
