"""Byte sizes and element sizes: parse ``"2GiB"``, print ``2 GiB``, look up a dtype's itemsize.

Memory budgets are given in bytes, either as an ``int`` or as a string with a binary unit (``KiB``,
``MiB``, ``GiB``, ``TiB``, ``PiB``: powers of 1024) or a decimal one (``kB``, ``MB``, ``GB``,
``TB``, ``PB``: powers of 1000). Units are case-insensitive: ``"2gib"`` is ``"2GiB"``.

Example:
    >>> parse_bytes("2GiB"), parse_bytes("1.5GB"), parse_bytes("100000")
    (2147483648, 1500000000, 100000)
    >>> format_bytes(2147483648), format_bytes(1500000000)
    ('2 GiB', '1.4 GiB')
"""

from __future__ import annotations

import contextlib
import math
import numbers
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import numpy as np

from ._text import int_text, show
from .errors import JacobenchError

__all__ = ["format_bytes", "itemsize", "parse_bytes", "resolve_dtype"]

_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "pb": 1000**5,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pib": 1024**5,
}

_ML_DTYPES = frozenset({"bfloat16", "float8_e4m3fn", "float8_e5m2", "int4", "uint4"})
"""Names numpy does not know; ``ml_dtypes`` (a jax dependency) provides them."""

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

_PATTERN = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*")

_ACCEPTED = (
    "a number of bytes such as 100000, or a number with a unit such as 512MiB, 2GiB or 1.5GB "
    "(binary units KiB, MiB, GiB, TiB, PiB; decimal units kB, MB, GB, TB, PB; B for bytes)"
)


def parse_bytes(value: int | str) -> int:
    """Turn a byte size such as ``"2GiB"``, ``"1.5GB"`` or ``100000`` into a number of bytes.

    A fractional result is rounded down to whole bytes.

    Args:
        value: A non-negative ``int``, or a string: a non-negative decimal number optionally
            followed by a unit (``B``, ``kB``, ``MB``, ``GB``, ``TB``, ``PB``, ``KiB``, ``MiB``,
            ``GiB``, ``TiB``, ``PiB``; any case; spaces allowed around it).

    Returns:
        The size in bytes.

    Raises:
        JacobenchError: For anything else; the message names the value and the accepted forms.

    Example:
        >>> parse_bytes("512MiB"), parse_bytes("1.5 kB"), parse_bytes(4096)
        (536870912, 1500, 4096)
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value < 0:
            raise JacobenchError(f"memory size {show(value)} is negative; expected {_ACCEPTED}")
        return int(value)
    if not isinstance(value, str):
        raise JacobenchError(
            f"memory size {show(value)} is of type {type(value).__name__}; expected {_ACCEPTED}"
        )
    match = _PATTERN.fullmatch(value)
    scale = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or scale is None:
        raise JacobenchError(f"memory size {show(value)} is not understood; expected {_ACCEPTED}")
    try:
        number = Fraction(Decimal(match.group(1)))
    except InvalidOperation:  # pragma: no cover - the pattern only lets decimals through
        raise JacobenchError(
            f"memory size {show(value)} is not understood; expected {_ACCEPTED}"
        ) from None
    return math.floor(number * scale)


def format_bytes(n_bytes: int, *, round_up: bool = False) -> str:
    """Write a byte count in binary units, with at most two decimals.

    Args:
        n_bytes: A non-negative number of bytes.
        round_up: Round the last decimal up instead of to nearest, so that the text, read back
            by :func:`parse_bytes`, is never smaller than ``n_bytes`` (use it for "at least").

    Returns:
        Text such as ``"512 MiB"`` or ``"3.81 MiB"``; whole bytes below 1 KiB.

    Example:
        >>> format_bytes(4_000_000), format_bytes(4_000_000, round_up=True), format_bytes(1000)
        ('3.81 MiB', '3.82 MiB', '1000 B')
        >>> parse_bytes(format_bytes(4_000_000, round_up=True)) >= 4_000_000
        True
    """
    if n_bytes < 1024:
        return f"{n_bytes} B"
    power = min(len(_BINARY) - 1, (n_bytes.bit_length() - 1) // 10)
    hundredths = Fraction(n_bytes * 100, 1024**power)
    rounded = math.ceil(hundredths) if round_up else round(hundredths)
    whole, frac = divmod(rounded, 100)
    text = f"{int_text(whole, grouped=False)}.{frac:02d}".rstrip("0").rstrip(".")
    return f"{text} {_BINARY[power]}"


def resolve_dtype(dtype: object) -> np.dtype[Any]:
    """The numeric numpy dtype named by ``dtype``; ``"bfloat16"`` and friends come from ml_dtypes.

    Raises:
        JacobenchError: If ``dtype`` does not name a numeric dtype.

    Example:
        >>> resolve_dtype("float64").itemsize, resolve_dtype("bfloat16").itemsize
        (8, 2)
    """
    if isinstance(dtype, str) and dtype in _ML_DTYPES:
        import ml_dtypes  # installed with jax; only for the dtypes numpy lacks

        found: type = getattr(ml_dtypes, dtype)
        return np.dtype(found)
    resolved: np.dtype[Any] | None = None
    if dtype is not None:
        with contextlib.suppress(TypeError):
            resolved = np.dtype(dtype)  # type: ignore[call-overload]
    if resolved is None or (resolved.kind not in "biufc" and resolved.name not in _ML_DTYPES):
        raise JacobenchError(
            f"unknown dtype {show(dtype)}; expected a numeric dtype name such as "
            "'float16', 'bfloat16', 'float32', 'float64' or 'complex64'"
        )
    return resolved


def itemsize(dtype: object) -> int:
    """Bytes per element of ``dtype`` (see :func:`resolve_dtype`).

    Example:
        >>> itemsize("float32"), itemsize("complex128")
        (4, 16)
    """
    return int(resolve_dtype(dtype).itemsize)
