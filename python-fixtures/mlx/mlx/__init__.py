"""Fixture MLX package."""
