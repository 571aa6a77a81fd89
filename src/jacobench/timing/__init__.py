"""Predict seconds, not only multiply-adds: device profiles and the time model.

:func:`calibrate` measures a :class:`DeviceProfile` of this machine by micro-benchmarks (matrix
products over a grid of shapes, memory bandwidth, call and launch overheads, element-wise
throughput); :func:`save`, :func:`load` and :func:`load_or_calibrate` keep it under
``results/profiles/``; :func:`predict_seconds` turns a plan of either engine into predicted
seconds on that machine (see :mod:`jacobench.timing.predict` for the formula).

Nothing here imports JAX until a profile is measured or a device is described.
"""

from __future__ import annotations

from .micro import calibrate
from .predict import predict_seconds
from .profile import BACKENDS, DTYPES, BackendRates, DeviceProfile, DtypeRates
from .store import default_path, load, load_or_calibrate, save, save_keeping, stale_reason

__all__ = [
    "BACKENDS",
    "DTYPES",
    "BackendRates",
    "DeviceProfile",
    "DtypeRates",
    "calibrate",
    "default_path",
    "load",
    "load_or_calibrate",
    "predict_seconds",
    "save",
    "save_keeping",
    "stale_reason",
]
