"""Depends on other distributions under platform and Python-version markers."""
