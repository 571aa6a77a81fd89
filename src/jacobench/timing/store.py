"""Saving, loading and reusing device profiles (JSON under ``results/profiles/``).

:func:`save` writes atomically (a temporary file, then a rename: a reader never sees half a file;
the file gets the usual mode for the umask). :func:`load` checks every field and raises
:class:`~jacobench.JacobenchError` for a corrupt or truncated file or one that lacks a dtype.
:func:`load_or_calibrate` reuses a profile of the same device, versions and matmul precision;
for any other it warns and measures again, and it never loses what was saved: the old file stays
where it is until the new profile is written, and then it is kept aside as
``<name>.replaced-<date>.json``.

Example:
    >>> import tempfile
    >>> from jacobench.timing import DeviceProfile
    >>> p = DeviceProfile.uniform(flops=1e9, bandwidth=1e9)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save(p, Path(tmp) / "synthetic.json")
    ...     load(path) == p
    True
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import JacobenchError
from .profile import BACKENDS, DTYPES, DeviceProfile, device_fields, slug

__all__ = [
    "PROFILE_DIR",
    "default_path",
    "default_profile",
    "load",
    "load_or_calibrate",
    "save",
    "save_keeping",
    "stale_reason",
]

PROFILE_DIR = Path("results") / "profiles"
"""Where profiles live by default, relative to the working directory."""


def default_path(device: str | None = None) -> Path:
    """``results/profiles/<device-slug>.json`` for ``device`` (default: this machine's).

    Example:
        >>> default_path("cpu: AMD EPYC, 2 cores").as_posix()
        'results/profiles/cpu-amd-epyc-2-cores.json'
    """
    name = device if device is not None else device_fields()["device"]
    return PROFILE_DIR / f"{slug(name)}.json"


def save(profile: DeviceProfile, path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``profile`` as JSON to ``path`` (default: :func:`default_path` of its device).

    The directory is made if needed; the write is atomic.

    Returns:
        The path written.
    """
    target = Path(path) if path is not None else default_path(profile.device)
    text = json.dumps(profile.to_dict(), indent=1, allow_nan=False) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load(path: str | os.PathLike[str]) -> DeviceProfile:
    """Read a profile written by :func:`save`.

    Raises:
        JacobenchError: If the file is missing, unreadable, not JSON (e.g. truncated), or a field
            is missing or malformed (e.g. a backend lacks one of the profile's dtypes).
    """
    source = Path(path)
    try:
        text = source.read_text()
    except OSError as err:
        raise JacobenchError(f"cannot read the device profile {source}: {err.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise JacobenchError(
            f"device profile {source} is not valid JSON (corrupt or truncated?): {err}"
        ) from None
    return DeviceProfile.from_dict(data, source=f"device profile {source}")


def stale_reason(
    profile: DeviceProfile,
    backends: Sequence[str] = BACKENDS,
    dtypes: Sequence[str] = DTYPES,
    here: dict[str, str] | None = None,
) -> str | None:
    """Why ``profile`` does not describe this machine as it is now; None when it does.

    It must come from the same device with the same jax, jaxlib and numpy versions and the same
    matmul precision, and hold every backend and dtype asked for.

    Example:
        >>> from jacobench.timing import DeviceProfile
        >>> p = DeviceProfile.uniform(flops=1e9, bandwidth=1e9)
        >>> stale_reason(p, here={**p.to_dict(), "device": "cpu: elsewhere"})
        "it was measured on 'synthetic', this is 'cpu: elsewhere'"
    """
    now = device_fields() if here is None else here
    labels = {
        "device": "it was measured on {old!r}, this is {new!r}",
        "jax_version": "it was measured with jax {old}, this is jax {new}",
        "jaxlib_version": "it was measured with jaxlib {old}, this is jaxlib {new}",
        "numpy_version": "it was measured with numpy {old}, this is numpy {new}",
        "matmul_precision": "it was measured at matmul precision {old}, now it is {new}",
    }
    for key, label in labels.items():
        old = getattr(profile, key)
        if old != now[key]:
            return label.format(old=old, new=now[key])
    return _lacking(profile, backends, dtypes)


def _lacking(profile: DeviceProfile, backends: Sequence[str], dtypes: Sequence[str]) -> str | None:
    """What of ``backends`` and ``dtypes`` the profile has no rates for; None if nothing."""
    names = [b.backend for b in profile.backends]
    missing = [b for b in backends if b not in names]
    if missing:
        return f"it has no rates for backend {missing[0]!r} (it has {names})"
    unread = [b.backend for b in profile.backends if b.backend in backends and not b.weights]
    if unread:
        return f"it was measured before calibration timed weight reads ({unread[0]})"
    one_sided = [
        b.backend
        for b in profile.backends
        if b.backend in backends and not (b.left_weights and b.right_weights)
    ]
    if one_sided:
        return f"it was measured before calibration timed products' weight reads ({one_sided[0]})"
    lacking = [t for t in dtypes if t not in profile.dtypes]
    if lacking:
        return f"it has no {lacking[0]} rates (it has {list(profile.dtypes)})"
    return None


def load_or_calibrate(
    path: str | os.PathLike[str] | None = None,
    *,
    backends: Sequence[str] = BACKENDS,
    dtypes: Sequence[str] = DTYPES,
    progress: bool | Callable[[float, str], None] = False,
    quick: bool = False,
) -> DeviceProfile:
    """The saved profile of this machine if it is still valid; otherwise calibrate and save.

    Args:
        path: The profile file (default: :func:`default_path`).
        backends: The backends the profile must hold.
        dtypes: The dtypes it must hold.
        progress: Passed to :func:`jacobench.timing.calibrate` when it calibrates.
        quick: Passed to :func:`jacobench.timing.calibrate` (a small grid, for tests).

    Returns:
        The profile, saved at ``path``.

    Warns:
        UserWarning: When the file is corrupt, or from another device, version or precision, or
            lacks a backend or dtype: it says why and that it recalibrates. The old file is kept
            (as ``<name>.replaced-<date>.json``) once the new one is written.
    """
    from .micro import calibrate

    here = device_fields()
    target = Path(path) if path is not None else default_path(here["device"])
    reason: str | None = None
    if target.exists():
        try:
            found = load(target)
        except JacobenchError as err:
            reason = str(err)
        else:
            reason = stale_reason(found, backends, dtypes, here)
            if reason is None:
                return found
            if reason == _lacking(found, backends, dtypes):  # this machine, but not all of it:
                have = {b.backend for b in found.backends} | set(backends)  # measure the union
                backends = tuple(b for b in BACKENDS if b in have)
                dtypes = tuple(t for t in DTYPES if t in {*found.dtypes, *dtypes})
        warnings.warn(
            f"not using the device profile {target}: {reason}; recalibrating",
            UserWarning,
            stacklevel=2,
        )
    profile = calibrate(backends=backends, dtypes=dtypes, progress=progress, quick=quick)
    save_keeping(profile, target)
    return profile


_IN_PROCESS: dict[str, DeviceProfile] = {}


def default_profile(backend: str = "jax", dtype: str = "float32") -> DeviceProfile:
    """This machine's profile (at :func:`default_path`), kept for the rest of the process.

    :func:`load_or_calibrate` gives it, showing a progress line if it has to measure one (about
    a minute on two CPU cores); the planners use it for ``objective="time"`` when they are given
    no profile.
    """
    cached = _IN_PROCESS.get("default")
    if cached is not None and _lacking(cached, (backend,), (dtype,)) is None:
        return cached
    profile = load_or_calibrate(backends=(backend,), dtypes=(dtype,), progress=True)
    _IN_PROCESS["default"] = profile
    return profile


def save_keeping(profile: DeviceProfile, path: str | os.PathLike[str] | None = None) -> Path:
    """:func:`save`, keeping aside what it replaces if that holds something else.

    A file it replaces that is unreadable or describes another device, version or precision is
    renamed ``<name>.replaced-<date>.json`` once the new one is written.

    Returns:
        The path written.
    """
    target = Path(path) if path is not None else default_path(profile.device)
    if not target.exists():
        return save(profile, target)
    try:
        old: DeviceProfile | None = load(target)
    except JacobenchError:
        old = None
    keys = ("device", "jax_version", "jaxlib_version", "numpy_version", "matmul_precision")
    if old is not None and all(getattr(old, k) == getattr(profile, k) for k in keys):
        return save(profile, target)  # a newer measurement of the same thing
    fresh = save(profile, target.with_name(f".{target.name}.new"))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    os.replace(target, target.with_name(f"{target.stem}.replaced-{stamp}{target.suffix}"))
    os.replace(fresh, target)
    return target
