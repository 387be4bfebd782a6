"""Fixture mlx_lm (custom)."""

__version__ = "0.29.0"
