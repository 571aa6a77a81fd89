"""Shared test set-up: JAX in float64 so products can be compared to the last bits."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import jacobench

jax.config.update("jax_enable_x64", True)

SOURCE = Path(jacobench.__file__).resolve().parents[1]
"""The folder that holds the jacobench package under test."""


@pytest.fixture
def same_jacobench():
    """Environment for a subprocess in another folder: it imports the jacobench under test."""
    paths = [str(SOURCE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


@pytest.fixture
def closed_early():
    """``closed_early(*argv)``: run ``python *argv`` with its stdout closed before it writes.

    What ``... | head`` does to a command whose reader stops early; returns its exit status and
    what it wrote on stderr.
    """

    def run(*argv: str) -> tuple[int, str]:
        proc = subprocess.Popen(
            [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the command has imported JAX, let alone printed
        err = proc.stderr.read()
        return proc.wait(timeout=120), err

    return run
