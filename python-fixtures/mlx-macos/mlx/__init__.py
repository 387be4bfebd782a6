"""Fixture MLX (macOS)."""
