"""The library's one exception class, and the one warning it gives."""

from __future__ import annotations

__all__ = ["JacobenchError", "SlowPlanningWarning"]


class JacobenchError(ValueError):
    """Raised for every bad input to jacobench.

    It is a :class:`ValueError`, so callers that already catch ``ValueError`` keep working.
    Messages name the bad value and what was expected, e.g.
    ``jacobians[1] has shape (5, 5), expected (5, 4) from widths (3, 4, 5)``.
    """


class SlowPlanningWarning(UserWarning):
    """Given before a planning step expected to take more than a second, with its estimate.

    Planning the optimal bracketing is a cubic dynamic program in the number of layers; on
    chains of hundreds or thousands of layers it takes seconds to hours. Silence the note with
    ``warnings.simplefilter("ignore", SlowPlanningWarning)``.
    """
