"""``python -m msty_mlx_studio …``: the same program as ``build-external-python …``."""

from __future__ import annotations

import os
import sys

from msty_mlx_studio import find_bin


def main() -> None:
    binary = find_bin()
    # exec keeps the exit code, signals and stdout exactly the program's own.
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
