"""build-external-python, installed from the msty-mlx-studio wheel: where its binary is."""

from __future__ import annotations

import os
import sysconfig

__all__ = ["find_bin"]

NAME = "build-external-python"


def _candidates() -> list[str]:
    """The script directories to look in, the ones installed with this package first."""
    site = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # `pip install --target DIR`: DIR/msty_mlx_studio beside DIR/bin.
    dirs = [os.path.join(site, "bin")]
    if os.path.basename(site) in ("site-packages", "dist-packages"):
        # A prefix scheme (venv, --user, --prefix, uv tool): <prefix>/lib/pythonX.Y/site-packages.
        dirs.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(site))), "bin"))
    # Then the interpreter's own, and its user scheme's.
    dirs.append(sysconfig.get_path("scripts"))
    if hasattr(sysconfig, "get_preferred_scheme"):
        dirs.append(sysconfig.get_path("scripts", scheme=sysconfig.get_preferred_scheme("user")))
    return list(dict.fromkeys(dirs))


def find_bin() -> str:
    """The path of the ``build-external-python`` installed with this package.

    The directories beside the package come first, so another version's script earlier on the
    interpreter's paths is never the one run.
    """
    exe = NAME + (sysconfig.get_config_var("EXE") or "")
    candidates = _candidates()
    for directory in candidates:
        path = os.path.join(directory, exe)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"{exe} is not in {', '.join(candidates)}; reinstall msty-mlx-studio")
