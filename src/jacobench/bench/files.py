r"""Files the benchmark tooling writes: checked folders, the usual mode, leftovers of killed runs.

* :func:`writable_folder` checks (and makes) an output folder before a run starts, so a bad
  ``--results-dir`` is one line up front rather than a traceback after the whole benchmark;
* :func:`temp_beside` opens the temporary file a result is written to before it is renamed into
  place, with the mode a plain ``open`` would give (``0o666`` less the umask) and an exclusive
  ``flock`` held for as long as the writer lives;
* :func:`sweep` removes the temporary files of writers that are gone (a run killed with
  ``SIGKILL`` cannot clean up after itself): a leftover whose lock can be taken has no writer,
  while a concurrent run's files stay locked and are left alone.

Locks are advisory ``flock`` locks (Linux and macOS); where :mod:`fcntl` is missing nothing is
locked and nothing is swept.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> fd, path = temp_beside(folder / "latest.csv")
    >>> sweep(folder, [r"\.latest\.csv\..*\.tmp"])  # its writer (this process) holds it
    []
    >>> os.close(fd)  # the writer is gone; its file is a leftover
    >>> [p.name for p in sweep(folder, [r"\.latest\.csv\..*\.tmp"])] == [path.name]
    True
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import JacobenchError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS
    fcntl = None  # type: ignore[assignment]

__all__ = ["abandoned", "lock", "sweep", "temp_beside", "usual_mode", "writable_folder"]


def usual_mode(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the mode a plain ``open`` would: ``0o666`` less the process's umask.

    ``tempfile.mkstemp`` makes files ``0o600``, and a rename keeps the mode; results and plots
    are meant to be read by others (web servers, colleagues), like the CSVs.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def lock(fd: int) -> None:
    """Hold an exclusive lock on the open file ``fd`` until it is closed (marks a live writer)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def temp_beside(final: Path) -> tuple[int, Path]:
    """A new, locked temporary file beside ``final`` with the usual mode: ``(fd, path)``.

    Close ``fd`` (releasing the lock) once the file has been renamed into place or removed.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        lock(fd)
        usual_mode(name)
    except BaseException:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise
    return fd, Path(name)


def abandoned(path: Path) -> bool:
    """Whether no live writer holds ``path``'s lock (then it is a leftover)."""
    if fcntl is None:  # pragma: no cover - cannot tell: leave it
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def sweep(folder: Path, patterns: Iterable[str]) -> list[Path]:
    """Remove the files in ``folder`` whose names match a pattern and whose writer is gone.

    Args:
        folder: The folder to look in (nothing happens if it does not exist).
        patterns: Regular expressions that must match whole file names.

    Returns:
        The files removed.
    """
    if not folder.is_dir():
        return []
    matchers = [re.compile(p) for p in patterns]
    removed = []
    for path in sorted(folder.iterdir()):
        if any(m.fullmatch(path.name) for m in matchers) and path.is_file() and abandoned(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def writable_folder(folder: Path, what: str) -> Path:
    """Make ``folder`` if needed and check that files can be created in it.

    Args:
        folder: The folder.
        what: What it is for, for the message (e.g. ``"--results-dir"``).

    Returns:
        ``folder``.

    Raises:
        JacobenchError: If it is a file, cannot be made, or files cannot be created in it.
    """
    if folder.exists() and not folder.is_dir():
        raise JacobenchError(f"{what} {str(folder)!r} is a file, expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".jacobench-write-check.", dir=folder)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise JacobenchError(
            f"{what} {str(folder)!r} cannot be written to ({reason}); expected a folder this "
            "user can create files in"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return folder
