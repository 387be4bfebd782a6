"""build-external-python, installed from the msty-mlx-studio wheel: where its binary is."""

from __future__ import annotations

import os
import sysconfig

__all__ = ["find_bin"]

NAME = "build-external-python"


def find_bin() -> str:
    """The path of the installed ``build-external-python`` (the wheel's script)."""
    exe = NAME + (sysconfig.get_config_var("EXE") or "")
    candidates = [sysconfig.get_path("scripts")]
    user = sysconfig.get_preferred_scheme("user") if hasattr(sysconfig, "get_preferred_scheme") else None
    if user is not None:
        candidates.append(sysconfig.get_path("scripts", scheme=user))
    # A prefix install (`pip install --prefix`, `--target`): the package's own tree.
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(here)))), "bin"))
    for directory in candidates:
        path = os.path.join(directory, exe)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"{exe} not found in {', '.join(candidates)}; reinstall msty-mlx-studio")
