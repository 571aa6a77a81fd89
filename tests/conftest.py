"""Shared test set-up: JAX in float64 so products can be compared to the last bits."""

import jax

jax.config.update("jax_enable_x64", True)
