"""Fixture MLX (custom)."""
