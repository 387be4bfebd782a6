"""msty-mlx-studio: run first by every python3 started under the launcher, whose PYTHONPATH puts
this directory ahead of `_vendor`: the served port's guard (msty_mlx_guard.py), then whichever
sitecustomize the bundle itself has further down sys.path, as if this one were not here.

A failure here ends the process (exit 89): `site` would print it and go on, unguarded.
"""


def _start():
    import os
    import sys

    try:
        import msty_mlx_guard

        msty_mlx_guard.child_start()
    except BaseException as e:  # noqa: BLE001 - anything that stops the guard stops the process
        line = (
            f"msty-mlx-studio: error: the served port's guard failed to start in this python3 "
            f"({type(e).__name__}: {e}); rebuild the bundle, or set MLXK2_GUARD=off to run unguarded\n"
        )
        os.write(2, line.encode("utf-8", "backslashreplace"))
        os._exit(89)
    here = os.path.dirname(os.path.abspath(__file__))
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != here])
    if spec is not None and spec.loader is not None:
        module = type(sys)("sitecustomize")
        module.__spec__, module.__file__, module.__loader__ = spec, spec.origin, spec.loader
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)


_start()
del _start
