"""Reading a device profile back from JSON, checking every field (internal)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import JacobenchError
from .profile import _ITEMSIZE, BACKENDS, DTYPES, FORMAT, BackendRates, DeviceProfile, DtypeRates


class Reader:
    """Checks :meth:`DeviceProfile.to_dict` data field by field, naming the source on errors."""

    def __init__(self, source: str) -> None:
        self.source = source

    def bad(self, where: str, what: str) -> JacobenchError:
        return JacobenchError(f"{self.source}: {where} {what}")

    def get(self, data: object, key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if not isinstance(data, Mapping) or key not in data:
            raise self.bad(where, f"has no field {key!r}")
        value = data[key]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if not ok:
            raise self.bad(f"{where}.{key}", f"is {value!r}, expected {_kind(kind)}")
        return value

    def positive(self, data: object, key: str, where: str, *, zero: bool = False) -> float:
        value = float(self.get(data, key, (int, float), where))
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            expected = "a finite number >= 0" if zero else "a finite number > 0"
            raise self.bad(f"{where}.{key}", f"is {value!r}, expected {expected}")
        return value

    def profile(self, data: object) -> DeviceProfile:
        if not isinstance(data, Mapping):
            raise self.bad("the file", f"holds {type(data).__name__}, expected a JSON object")
        fmt = self.get(data, "format", int, "profile")
        if fmt != FORMAT:
            raise self.bad("profile.format", f"is {fmt}, expected {FORMAT}")
        text = {
            key: self.get(data, key, str, "profile")
            for key in (
                "device",
                "platform",
                "jax_version",
                "jaxlib_version",
                "numpy_version",
                "date",
                "matmul_precision",
            )
        }
        dtypes = self.get(data, "dtypes", list, "profile")
        if not dtypes or any(t not in _ITEMSIZE for t in dtypes):
            raise self.bad("profile.dtypes", f"is {dtypes!r}, expected a list from {DTYPES}")
        raw = self.get(data, "backends", list, "profile")
        if not raw:
            raise self.bad("profile.backends", "is empty, expected at least one backend")
        backends = tuple(self.backend(b, f"backends[{i}]", dtypes) for i, b in enumerate(raw))
        names = [b.backend for b in backends]
        if len(set(names)) != len(names):
            raise self.bad("profile.backends", f"repeat a backend: {names}")
        return DeviceProfile(
            **text,
            calibration_s=self.positive(data, "calibration_s", "profile", zero=True),
            backends=backends,
        )

    def backend(self, data: object, where: str, dtypes: Sequence[str]) -> BackendRates:
        name = self.get(data, "backend", str, where)
        if name not in BACKENDS:
            raise self.bad(f"{where}.backend", f"is {name!r}, expected one of {list(BACKENDS)}")
        points = self.get(data, "bandwidth", list, where)
        bandwidth = tuple(self.pair(p, f"{where}.bandwidth[{i}]") for i, p in enumerate(points))
        if not bandwidth or list(bandwidth) != sorted(set(bandwidth)):
            raise self.bad(f"{where}.bandwidth", "is empty or not sorted by size")
        weights, left, right = (
            self.curve(data, key, where) for key in ("weights", "left_weights", "right_weights")
        )
        tables = self.get(data, "dtypes", list, where)
        rates = tuple(self.dtype(t, f"{where}.dtypes[{i}]") for i, t in enumerate(tables))
        have = [r.dtype for r in rates]
        for wanted in dtypes:
            if wanted not in have:
                raise self.bad(where, f"({name}) has no {wanted} rates; it has {have}")
        return BackendRates(
            backend=name,
            call_overhead_s=self.positive(data, "call_overhead_s", where, zero=True),
            arg_overhead_s=self.positive(data, "arg_overhead_s", where, zero=True),
            op_overhead_s=self.positive(data, "op_overhead_s", where, zero=True),
            bandwidth=bandwidth,
            dtypes=rates,
            weights=weights,
            left_weights=left,
            right_weights=right,
        )

    def curve(self, data: object, key: str, where: str) -> tuple[tuple[int, float], ...]:
        """A ``(footprint, bytes per second)`` curve, sorted; ``()`` where absent (older files)."""
        if not (isinstance(data, dict) and key in data):
            return ()
        raw = self.get(data, key, list, where)
        points = tuple(self.pair(p, f"{where}.{key}[{i}]") for i, p in enumerate(raw))
        if [b for b, _ in points] != sorted({b for b, _ in points}):
            raise self.bad(f"{where}.{key}", "is not sorted by footprint")
        return points

    def pair(self, data: object, where: str) -> tuple[int, float]:
        ok = isinstance(data, list) and len(data) == 2
        if ok and isinstance(data, list):
            size, rate = data
            ok = isinstance(size, int) and size > 0 and _is_positive(rate)
        if not ok or not isinstance(data, list):
            raise self.bad(where, f"is {data!r}, expected [bytes, bytes per second] > 0")
        return int(data[0]), float(data[1])

    def dtype(self, data: object, where: str) -> DtypeRates:
        name = self.get(data, "dtype", str, where)
        if name not in _ITEMSIZE:
            raise self.bad(f"{where}.dtype", f"is {name!r}, expected one of {list(_ITEMSIZE)}")
        sizes = self.get(data, "sizes", list, where)
        if (
            len(sizes) < 2
            or sizes[0] != 1
            or any(not isinstance(s, int) or isinstance(s, bool) for s in sizes)
            or sizes != sorted(set(sizes))
        ):
            raise self.bad(f"{where}.sizes", f"is {sizes!r}, expected increasing ints from 1")
        rows = []
        for i, row in enumerate(self.get(data, "matmul", list, where)):
            ok = isinstance(row, list) and len(row) == 4
            if ok:
                ok = all(v in sizes for v in row[:3]) and _is_positive(row[3])
            if not ok:
                raise self.bad(
                    f"{where}.matmul[{i}]",
                    f"is {row!r}, expected [m, k, n, seconds > 0] on the grid",
                )
            rows.append((int(row[0]), int(row[1]), int(row[2]), float(row[3])))
        if not any(row[:3] == (1, 1, 1) for row in rows):
            raise self.bad(f"{where}.matmul", "has no row for the shape (1, 1, 1)")
        return DtypeRates(
            dtype=name,
            sizes=tuple(sizes),
            matmul=tuple(rows),
            elementwise_per_s=self.positive(data, "elementwise_per_s", where),
            transcendental_per_s=self.positive(data, "transcendental_per_s", where),
        )


def _is_positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _kind(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {"str": "a string", "int": "an integer", "float": "a number", "list": "a list"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)
