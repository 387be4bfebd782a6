"""Run as a child (`python3 -m mlxk2.child`): prints what that process sees."""

import json

from mlxk2.cli import report

if __name__ == "__main__":
    print(json.dumps(report()))
