"""Fixture MLX (broken)."""
