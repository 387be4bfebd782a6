"""Fixture MLX (old)."""
