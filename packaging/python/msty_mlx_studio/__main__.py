"""``python -m msty_mlx_studio …``: the same program as ``build-external-python …``."""

from __future__ import annotations

import os
import sys

from msty_mlx_studio import find_bin


def main() -> None:
    try:
        binary = find_bin()
    except FileNotFoundError as e:
        sys.exit(f"python -m msty_mlx_studio: error: {e}")
    # exec keeps the exit code, signals and stdout exactly the program's own.
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
