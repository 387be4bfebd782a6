"""Unit tests of how the guard reaches python3 children (`guard/msty_mlx_guard.py`): which
command lines of a child that skips sitecustomize get the guard's prelude, and that the prelude
leaves the child's own command working. The launcher-level behaviour is in
`launcher-tests/guard.rs`; this is the option parsing on its own.

Run by `launcher-tests/guard.rs` (`the_guards_python_unit_tests_pass`):
`python3 -I -B guard/tests/test_guard_start.py`.
"""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

import msty_mlx_guard as guard  # noqa: E402 - after the guard's directory is on sys.path

PY = "/b/python/bin/python3"
ON_PATH = {"PYTHONPATH": HERE + os.pathsep + "/b/_vendor"}
OFF_PATH = {"PYTHONPATH": "/b/_vendor"}


def command_of(args):
    """The `-c` command in `args` (after its option cluster), or None."""
    for i, arg in enumerate(args[1:], 1):
        if arg.startswith("-") and not arg.startswith("--") and arg.endswith("c"):
            return args[i + 1]
    return None


class PreludeTests(unittest.TestCase):
    def test_children_that_run_sitecustomize_are_left_alone(self):
        for args in [[PY, "-c", "x"], [PY, "-B", "-c", "x"], [PY, "-X", "utf8", "-c", "x"], [PY, "-sc", "x"]]:
            self.assertIs(guard._with_prelude(args, ON_PATH), args, args)

    def test_children_that_skip_it_get_the_prelude_in_their_command(self):
        for args, cluster in [
            ([PY, "-I", "-c", "x", "a"], "-c"),
            ([PY, "-E", "-c", "x", "a"], "-c"),
            ([PY, "-S", "-c", "x", "a"], "-c"),
            ([PY, "-sIBc", "x", "a"], "-sIBc"),
            ([PY, "-X", "utf8", "-W", "ignore", "-I", "-c", "x", "a"], "-c"),
            ([PY, "--check-hash-based-pycs", "never", "-Ic", "x", "a"], "-Ic"),
            ([PY.encode(), "-B", "-I", "-c", "x", "a"], "-c"),
        ]:
            got = guard._with_prelude(args, ON_PATH)
            self.assertEqual(got[-1], "a", args)
            self.assertEqual(got[-3], cluster, args)
            self.assertIn("msty_mlx_guard.child_start()", got[-2], args)
            self.assertTrue(got[-2].endswith("exec(compile('x', '<string>', 'exec'))"), got)
        # The code glued to its option (`-Icx`) is split from it.
        got = guard._with_prelude([PY, "-Icx", "a"], ON_PATH)
        self.assertEqual((got[1], got[-1]), ("-Ic", "a"))
        self.assertTrue(got[2].endswith("exec(compile('x', '<string>', 'exec'))"), got)
        # A PYTHONPATH without the guard first: its sitecustomize is not the one that runs.
        for env in [OFF_PATH, {}]:
            self.assertIn("child_start", command_of(guard._with_prelude([PY, "-c", "x"], env)), env)

    def test_module_script_stdin_and_shell_children_are_left_alone(self):
        for args in [
            [PY, "-I", "-m", "mod", "-c", "x"],
            [PY, "-Im", "mod"],
            [PY, "-I", "script.py", "-c", "x"],
            [PY, "-I", "-", "-c"],
            [PY, "-I", "-c"],
            [PY, "-I", "--version"],
            "python3 -I -c x",
            [PY, b"-I", b"-c", b"x"],
        ]:
            self.assertIs(guard._with_prelude(args, OFF_PATH), args, args)

    def test_the_prelude_keeps_the_childs_future_imports_lines_and_argv(self):
        code = "from __future__ import annotations\nimport sys\nif 1:\n    raise SystemExit(repr((sys.argv, __name__)))"
        args = guard._with_prelude([sys.executable, "-B", "-I", "-c", code, "a"], OFF_PATH)
        env = {k: v for k, v in os.environ.items() if k != guard.TOKEN_VAR}
        out = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        self.assertEqual((out.returncode, out.stderr), (1, "(['-c', 'a'], '__main__')\n"))
        args = guard._with_prelude([sys.executable, "-B", "-I", "-c", "\n\n1/0"], OFF_PATH)
        out = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        self.assertIn('File "<string>", line 3, in <module>', out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=1)
