"""Fixture mlx_lm."""

print("mlx_lm fixture: imported (stdout noise the stack check must keep off its JSON)")

__version__ = "0.28.1"
