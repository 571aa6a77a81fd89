"""Text of numbers of any size and of objects of any depth, for messages, tables and JSON.

Python refuses to turn an int of more than 4,300 digits into decimal text (``str``, ``repr``,
``f"{n:,}"``, ``json.dumps``), floats overflow above about ``1.8e308``, and the built-in
``repr`` of a nested tuple thousands deep ends in ``RecursionError``. Widths, multiply-adds and
plan trees have no such limits, so everything the library prints goes through here:

* :func:`int_text`: an int of any size, optionally grouped with commas;
* :func:`ratio` and :func:`ratio_text`: ``num / den`` of exact ints as a float (``inf`` past the
  float range) and as text (exact, at any size);
* :func:`show`: a short, bounded ``repr`` for messages (deep, cyclic or huge values included);
* :func:`any_int_digits`: lift the digit limit for a block that must write whole ints (JSON);
* :func:`compact_widths`: a chain's widths for a table, long runs of one width as ``w^k``;
* :func:`markdown_table`: a Markdown table, its cells escaped.

Example:
    >>> int_text(10**5000)[:5], len(int_text(10**5000, grouped=False))
    ('100,0', 5001)
    >>> ratio(10**310, 1), ratio_text(10**310, 1)
    (inf, '1e+310')
    >>> show(((((((((1, 2), 3), 4), 5), 6), 7), 8), 9))
    '((((((...), 4), 5), 6), 7), 8), 9)'
"""

from __future__ import annotations

import contextlib
import math
import reprlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, localcontext

__all__ = [
    "REPEAT_FROM",
    "any_int_digits",
    "compact_widths",
    "int_text",
    "markdown_table",
    "ratio",
    "ratio_text",
    "show",
]

REPEAT_FROM = 4
"""Runs of this many equal widths or more are written ``w^k`` by :func:`compact_widths`."""


def int_text(n: int, *, grouped: bool = True) -> str:
    """Decimal text of an int of any size, with thousands separators unless ``grouped=False``.

    Example:
        >>> int_text(1234567), int_text(1234567, grouped=False)
        ('1,234,567', '1234567')
    """
    try:
        return f"{n:,}" if grouped else str(n)
    except ValueError:  # over the interpreter's digit limit: Decimal converts in binary
        return format(Decimal(n), "," if grouped else "f")


@contextlib.contextmanager
def any_int_digits() -> Iterator[None]:
    """Lift Python's limit on the digits of int <-> str conversions for the block.

    For code that writes ints through machinery that cannot be handed :func:`int_text`
    (``json.dumps``). The limit is restored afterwards.

    Example:
        >>> import json
        >>> with any_int_digits():
        ...     text = json.dumps([10**5000])
        >>> len(text)
        5003
    """
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(old)


def ratio(num: int, den: int) -> float:
    """``num / den`` of exact ints >= 0: ``0 / 0 = 1``, ``x / 0 = inf``; ``inf`` past floats.

    Python divides ints of any size exactly and rounds once; only a quotient beyond the largest
    float (about ``1.8e308``) cannot be a float, and is ``inf``.

    Example:
        >>> ratio(75000, 7500), ratio(0, 0), ratio(10**400, 10**399), ratio(10**310, 1)
        (10.0, 1.0, 10.0, inf)
    """
    if den == 0:
        return 1.0 if num == 0 else math.inf
    try:
        return num / den
    except OverflowError:
        return math.inf


def ratio_text(num: int, den: int, spec: str = ".3g") -> str:
    """``num / den`` formatted with ``spec`` (a float format: ``".3g"``, ``",.0f"``), exactly.

    Within the float range this is ``format(ratio(num, den), spec)``; beyond it (or below the
    smallest normal float) the quotient is formatted from an exact decimal instead.

    Example:
        >>> ratio_text(75000, 7500), ratio_text(1, 3), ratio_text(0, 0), ratio_text(5, 0)
        ('10', '0.333', '1', 'inf')
        >>> ratio_text(10**310, 3), ratio_text(1, 10**400), ratio_text(10**310, 1, ",.0f")[:6]
        ('3.33e+309', '1e-400', '10,000')
    """
    value = ratio(num, den)
    if den == 0 or (math.isfinite(value) and (value >= sys.float_info.min or num == 0)):
        return format(value, spec)
    with localcontext() as ctx:
        ctx.prec = max(40, len(int_text(num, grouped=False)) + 2) if spec.endswith("f") else 40
        ctx.Emax, ctx.Emin = 999_999_999, -999_999_999
        return format((Decimal(num) / Decimal(den)).normalize(), spec)


class _Short(reprlib.Repr):
    """``reprlib`` with ints of any size (shortened in the middle) and bounded depth."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 6
        self.maxtuple = self.maxlist = 12
        self.maxset = self.maxfrozenset = self.maxdict = 8
        self.maxlong = 40
        self.maxstring = self.maxother = 80

    def repr_int(self, x: int, level: int) -> str:
        text = int_text(x, grouped=False)
        if len(text) <= self.maxlong:
            return text
        head = (self.maxlong - 3) // 2
        return f"{text[:head]}...{text[-(self.maxlong - 3 - head) :]}"


_SHORT = _Short()


def show(value: object) -> str:
    """A short ``repr`` for messages: bounded in depth, length and digits; never raises.

    Example:
        >>> show(list(range(20)))
        '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ...]'
        >>> a = [3, 0]; a[1] = a
        >>> show(a)
        '[3, [3, [3, [3, [3, [3, [...]]]]]]]'
    """
    try:
        return _SHORT.repr(value)
    except Exception:  # a user object whose repr fails: name its type instead
        return f"<{type(value).__name__} object>"


def compact_widths(widths: object) -> str:
    """A chain's widths as the results write them, runs of :data:`REPEAT_FROM` or more as ``w^k``.

    ``jacobench plan`` reads the same notation back. Text that is not ``d-d-...`` is returned as
    it is, and anything but text or a list or tuple of widths as ``str`` makes it (a missing
    value in a table, say).

    Example:
        >>> compact_widths("32-512-512-512-512-512-32"), compact_widths((16, 256, 256, 256, 16))
        ('32-512^5-32', '16-256-256-256-16')
        >>> [compact_widths(w) for w in ("1024-1024-1024-1024-1024", "a label", None)]
        ['1024^5', 'a label', 'None']
    """
    if isinstance(widths, str):
        parts = widths.split("-")
        if not all(part.isdigit() for part in parts):
            return widths
    elif isinstance(widths, list | tuple):
        parts = [str(w) for w in widths]
    else:
        return str(widths)
    out: list[str] = []
    i = 0
    while i < len(parts):
        j = i
        while j < len(parts) and parts[j] == parts[i]:
            j += 1
        run = j - i
        out += [f"{parts[i]}^{run}"] if run >= REPEAT_FROM else parts[i:j]
        i = j
    return "-".join(out)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    r"""A Markdown table: a header row, the rule, then one line per row.

    A ``|`` in a cell is escaped and a line break becomes a space, so every row stays one line.

    Example:
        >>> print(markdown_table(["a", "b"], [[1, "x|y"], [2.5, "two\nlines"]]))
        | a | b |
        | --- | --- |
        | 1 | x\|y |
        | 2.5 | two lines |
    """

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
