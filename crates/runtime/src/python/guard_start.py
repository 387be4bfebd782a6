"""The served port's guard in the launcher's own interpreter: loaded from its directory beside
the launcher (which stays off `sys.path`) and started before mlx-knife runs. What it does:
`guard/msty_mlx_guard.py`.

Run by the runtime (`start.rs`) after `_vendor` is on `sys.path`, for a run of mlxk2 only.
"""

import sys


def start(guard, api):
    """Imports `msty_mlx_guard` from `guard` and calls its `launcher_start(api)`."""
    sys.path.insert(0, guard)
    try:
        import msty_mlx_guard
    finally:
        sys.path.remove(guard)
    msty_mlx_guard.launcher_start(api)
