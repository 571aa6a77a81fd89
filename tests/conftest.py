"""Shared test set-up: JAX in float64 so products can be compared to the last bits."""

import os
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
