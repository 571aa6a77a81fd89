"""The library's one exception class."""

from __future__ import annotations

__all__ = ["JacobenchError"]


class JacobenchError(ValueError):
    """Raised for every bad input to jacobench.

    It is a :class:`ValueError`, so callers that already catch ``ValueError`` keep working.
    Messages name the bad value and what was expected, e.g.
    ``jacobians[1] has shape (5, 5), expected (5, 4) from widths (3, 4, 5)``.
    """
