"""Benchmark grids: which width profiles the harness measures, as pure data.

A grid is a list of :class:`Config` rows (one chain of widths each, in one sweep); the benchmark
suites in ``jacobench/bench/suites/`` run every strategy of an engine on every config. Nothing here
touches arrays or clocks.

Sweeps:

* ``profiles``: width shapes at a few scales -- funnel (wide to narrow), expanding, constant,
  hourglass (wide, narrow, wide), diamond (narrow, wide, narrow) and random (seeded).
* ``crossover``: fixed depth and interior width, a 2-D grid of ``(d_0, d_L)`` whose ratio
  ``d_0 / d_L`` runs from 1/64 to 64: where forward and reverse mode trade places.
* ``depth``: narrow ends (``d_0 = d_L = 32`` in the default grid) around a fixed interior
  width, ``L`` from 1 upwards: cost grows with depth in every mode, memory mostly in reverse
  mode, which keeps every activation for the backward pass.
* ``batched``: per-example Jacobians of ``batch`` points at once (``jax.vmap`` of the Jacobian,
  as they are used in practice), for hourglass and constant chains; only the matrix-free engine
  runs them (the explicit engine multiplies given matrices and has no points).

The second-order suite (engine ``hessian``) measures scalar chains (``d_L = 1``) from
:data:`HESSIAN_GRIDS`, by the same grid names:

* ``hessian-depth``: ``(d_0, w, ..., w, 1)``, ``L`` upwards: time and memory of every HVP mode
  and Hessian strategy against depth;
* ``hessian-width``: ``(w, w, w, 1)``, ``w`` upwards;
* ``hessian-narrow``: a narrow layer near the input, e.g. ``(512, 512, 8, 512, 512, 512, 512,
  1)``, where the optimal Hessian splits the chain.

Rows whose model multiply-adds exceed the grid's :data:`HESSIAN_MAX_MACS` (``fwd-over-fwd``,
quadratic in ``d_0``, on wide inputs) are skipped and recorded, like rows over the memory budget.

Example:
    >>> profile_widths("hourglass", wide=8, narrow=2, depth=4)
    (8, 8, 2, 8, 8)
    >>> profile_widths("funnel", wide=64, narrow=4, depth=4)
    (64, 32, 16, 8, 4)
    >>> len(configs("default")) > len(configs("tiny"))
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import JacobenchError

__all__ = [
    "GRIDS",
    "HESSIAN_GRIDS",
    "HESSIAN_MAX_MACS",
    "PROFILES",
    "Config",
    "configs",
    "hessian_configs",
    "profile_widths",
]

PROFILES = ("funnel", "expanding", "constant", "hourglass", "diamond", "random")


@dataclass(frozen=True)
class Config:
    """One chain to measure.

    Attributes:
        sweep: ``"profiles"``, ``"crossover"``, ``"depth"`` or ``"batched"`` (``"hessian-depth"``,
            ``"hessian-width"`` or ``"hessian-narrow"`` in :data:`HESSIAN_GRIDS`).
        profile: The width profile's name (``"crossover"`` / ``"depth"`` in those sweeps).
        scale: A short label of the size within the sweep, e.g. ``"s"`` or ``"d0=8,dL=512"``.
        widths: ``(d_0, ..., d_L)``.
        batch: How many points' Jacobians one call computes (1: a single point).

    Example:
        >>> Config("batched", "hourglass", "B=16", (8, 2, 8), batch=16).id
        'batched-hourglass-8-2-8-B16'
    """

    sweep: str
    profile: str
    scale: str
    widths: tuple[int, ...]
    batch: int = 1

    @property
    def id(self) -> str:
        """A short, unique, readable test id."""
        tail = f"-B{self.batch}" if self.batch > 1 else ""
        return f"{self.sweep}-{self.profile}-{'-'.join(map(str, self.widths))}{tail}"


def profile_widths(
    profile: str, wide: int, narrow: int, depth: int, seed: int = 0
) -> tuple[int, ...]:
    """The widths ``d_0 .. d_L`` of a named profile.

    Args:
        profile: One of :data:`PROFILES`.
        wide: The largest width.
        narrow: The smallest width.
        depth: L, the number of layers (at least 1; hourglass and diamond need at least 2).
        seed: Seed of the ``random`` profile.

    Returns:
        A tuple of ``depth + 1`` positive ints.

    Raises:
        JacobenchError: For an unknown profile or sizes that do not make one.

    Example:
        >>> profile_widths("diamond", wide=8, narrow=2, depth=4)
        (2, 8, 8, 8, 2)
    """
    if depth < 1 or narrow < 1 or wide < narrow:
        raise JacobenchError(
            f"profile sizes must satisfy depth >= 1 and 1 <= narrow <= wide, got "
            f"depth={depth}, narrow={narrow}, wide={wide}"
        )
    n = depth + 1
    if profile == "funnel":
        ratio = (narrow / wide) ** (1 / depth)
        return tuple(max(1, round(wide * ratio**k)) for k in range(n))
    if profile == "expanding":
        return profile_widths("funnel", wide, narrow, depth)[::-1]
    if profile == "constant":
        return (wide,) * n
    if profile in ("hourglass", "diamond"):
        if depth < 2:
            raise JacobenchError(f"profile {profile!r} needs depth >= 2, got {depth}")
        outer, inner = (wide, narrow) if profile == "hourglass" else (narrow, wide)
        if profile == "hourglass":
            widths = [outer] * n
            widths[n // 2] = inner
        else:
            widths = [inner] * n
            widths[0] = widths[-1] = outer
        return tuple(widths)
    if profile == "random":
        rng = np.random.default_rng(seed)
        logs = rng.uniform(math.log(narrow), math.log(wide), size=n)
        return tuple(round(math.exp(v)) for v in logs)
    raise JacobenchError(f"unknown profile {profile!r}; valid options are {list(PROFILES)}")


def _profiles(scales: dict[str, tuple[int, int]], depth: int) -> list[Config]:
    out = []
    for label, (wide, narrow) in scales.items():
        for name in PROFILES:
            widths = profile_widths(name, wide, narrow, depth, seed=wide)
            out.append(Config("profiles", name, label, widths))
    return out


def _crossover(ends: tuple[int, ...], interior: int, depth: int) -> list[Config]:
    return [
        Config(
            "crossover", "crossover", f"d0={d0},dL={dl}", (d0,) + (interior,) * (depth - 1) + (dl,)
        )
        for d0 in ends
        for dl in ends
    ]


def _depth(width: int, depths: tuple[int, ...], ends: int = 4) -> list[Config]:
    # Narrow ends: the Jacobian blocks stay small, so what grows with depth is what each mode must
    # hold per layer -- reverse mode's stored activations -- not the blocks themselves.
    return [
        Config("depth", "depth", f"L={L}", (ends,) + (width,) * (L - 1) + (ends,)) for L in depths
    ]


def _batched(chains: dict[str, tuple[int, ...]], batches: tuple[int, ...]) -> list[Config]:
    return [
        Config("batched", profile, f"B={b}", widths, batch=b)
        for profile, widths in chains.items()
        for b in batches
    ]


GRIDS: dict[str, list[Config]] = {
    # A handful of small chains: for tests and quick looks (seconds).
    "tiny": [
        *_profiles({"xs": (24, 3)}, depth=3)[:3],
        *_crossover((2, 16), interior=8, depth=3),
        *_depth(8, (1, 3), ends=2),
        *_batched({"hourglass": (12, 12, 2, 12, 12)}, (4,)),
    ],
    # The default `make bench`: a few minutes on two CPU cores.
    "default": [
        *_profiles({"s": (256, 16), "m": (1024, 32)}, depth=4),
        *_crossover((16, 64, 256, 1024), interior=512, depth=4),
        *_depth(512, (1, 2, 3, 4, 6, 8, 12, 16, 24, 32), ends=32),
        *_batched({"hourglass": (512, 512, 16, 512, 512), "constant": (256,) * 5}, (4, 16)),
    ],
    # `make bench GRID=full`: larger scales, a finer crossover, deeper chains.
    "full": [
        *_profiles({"s": (256, 16), "m": (1024, 32), "l": (2048, 64)}, depth=4),
        *_profiles({"deep": (1024, 32)}, depth=8),
        *_crossover((4, 8, 16, 32, 64, 128, 256), interior=256, depth=4),
        *_crossover((8, 32, 128, 512, 2048), interior=1024, depth=4),
        *_depth(512, (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)),
        *_depth(2048, (2, 4, 8, 16, 32)),  # L = 1 is (4, 4) at any width: the sweep above has it
        *_batched({"hourglass": (768, 1024, 16, 1024, 768)}, (4, 16)),
        *_batched({"hourglass": (1000, 1000, 10, 1000, 1000)}, (16,)),
    ],
    # `make bench GRID=large`: for accelerators, where the default grid's chains take only tens of
    # microseconds and time is launch latency, not multiply-adds. Too slow for a laptop CPU.
    # The batched sweep goes first: the suites run rows in this order, so a run that reaches its
    # time limit has measured what matters most.
    "large": [
        *_batched({"hourglass": (2048, 2048, 16, 2048, 2048)}, (1, 16, 64)),
        *_batched({"hourglass": (1000, 1000, 10, 1000, 1000)}, (1, 64)),
        *_batched({"hourglass": (8192, 8192, 64, 8192, 8192)}, (1,)),
        *_batched({"constant": (2048,) * 5}, (16,)),
        *_profiles({"xl": (4096, 128)}, depth=4),
        *_crossover((128, 1024, 8192), interior=2048, depth=4),
        *_depth(4096, (1, 2, 4, 8)),
    ],
}
"""Every named grid."""


def _hessian_depth(d0: int, width: int, depths: tuple[int, ...]) -> list[Config]:
    return [
        Config("hessian-depth", "scalar", f"L={L}", (d0,) + (width,) * (L - 1) + (1,))
        for L in depths
    ]


def _hessian_width(widths: tuple[int, ...], depth: int = 3) -> list[Config]:
    return [Config("hessian-width", "scalar", f"w={w}", (w,) * depth + (1,)) for w in widths]


def _hessian_narrow(wide: int, narrow: int) -> list[Config]:
    widths = (wide, wide, narrow, wide, wide, wide, wide, 1)
    return [Config("hessian-narrow", "narrow-near-input", f"w={wide},k={narrow}", widths)]


HESSIAN_GRIDS: dict[str, list[Config]] = {
    "tiny": [*_hessian_depth(4, 8, (3,)), *_hessian_narrow(8, 2)],
    # Kept to well under a minute on two CPU cores.
    "default": [
        *_hessian_depth(32, 256, (2, 4, 8)),
        *_hessian_width((64, 256)),
        *_hessian_narrow(512, 8),
    ],
    "full": [
        *_hessian_depth(32, 256, (1, 2, 3, 4, 6, 8, 12, 16)),
        *_hessian_width((32, 64, 128, 256, 512)),
        *_hessian_narrow(256, 4),
        *_hessian_narrow(512, 8),
        *_hessian_narrow(1024, 16),
    ],
    "large": [
        *_hessian_depth(64, 1024, (1, 2, 4, 8, 16)),
        *_hessian_width((512, 1024, 2048)),
        *_hessian_narrow(2048, 16),
    ],
}
"""The scalar chains (``d_L = 1``) of the second-order suite, by grid name."""

HESSIAN_MAX_MACS: dict[str, int] = {
    "tiny": 10**4,  # skips fwd-over-fwd on the narrow chain (19,880 MACs): the cap is tested
    "default": 2 * 10**9,
    "full": 2 * 10**10,
    "large": 10**12,
}
"""Second-order rows whose model multiply-adds exceed this are skipped (and recorded)."""


def hessian_configs(grid: str) -> list[Config]:
    """The scalar chains of a named grid for the second-order suite.

    Raises:
        JacobenchError: For an unknown grid; the message lists the valid ones.

    Example:
        >>> [c.widths for c in hessian_configs("tiny")]
        [(4, 8, 8, 1), (8, 8, 2, 8, 8, 8, 8, 1)]
    """
    configs(grid)  # the same names, the same error
    return list(HESSIAN_GRIDS[grid])


def configs(grid: str) -> list[Config]:
    """The configs of a named grid.

    Raises:
        JacobenchError: For an unknown grid; the message lists the valid ones.

    Example:
        >>> [c.widths for c in configs("tiny") if c.sweep == "depth"]
        [(2, 2), (2, 8, 8, 2)]
    """
    try:
        return list(GRIDS[grid])
    except KeyError:
        raise JacobenchError(f"unknown grid {grid!r}; valid options are {sorted(GRIDS)}") from None
