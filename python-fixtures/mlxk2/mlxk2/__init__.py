"""Fixture stand-in for the mlx-knife package (`mlxk2`)."""

__version__ = "0.0.1.dev0+fixture"
