"""Fixture mlx.core: what the real extension module exposes to the stack check."""

__version__ = "0.29.3"
