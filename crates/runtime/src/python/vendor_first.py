"""`_vendor` first on `sys.path`, the way a site directory is added (its `.pth` files
processed), ahead of the stdlib and the interpreter's own site-packages: the order
`PYTHONPATH=<_vendor>` gives the children.

Run by the runtime (`start.rs`) right after CPython is initialized, before mlxk2 is imported.
"""

import site
import sys


def put_first(vendor):
    """Moves `vendor` (and the directories its `.pth` files add) to the front of `sys.path`."""
    rest = [p for p in sys.path if p != vendor]
    sys.path[:] = rest
    site.addsitedir(vendor)
    sys.path[:] = sys.path[len(rest) :] + rest
