"""Fixture `mlxk2.cli`: each sub-command reproduces one process behaviour the launcher must
keep identical to `python3 -m mlxk2.cli`. Like the real CLI, `main()` reads `sys.argv`."""

import json
import os
import signal
import subprocess
import sys
import time

import mlxk2


def report():
    """What the launcher must control, as JSON on stdout."""
    flags = sys.flags
    return {
        "argv": [os.fsencode(a).hex() for a in sys.argv],
        "argv_text": sys.argv,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "path": sys.path,
        "version": "%d.%d" % sys.version_info[:2],
        "flags": {
            "isolated": flags.isolated,
            "ignore_environment": flags.ignore_environment,
            "no_user_site": flags.no_user_site,
            "dont_write_bytecode": flags.dont_write_bytecode,
            "safe_path": getattr(flags, "safe_path", None),
            "inspect": flags.inspect,
            "optimize": flags.optimize,
            "verbose": flags.verbose,
            "utf8_mode": flags.utf8_mode,
        },
        "dont_write_bytecode": sys.dont_write_bytecode,
        "pycache_prefix": sys.pycache_prefix,
        "stdout_encoding": sys.stdout.encoding,
        "stderr_encoding": sys.stderr.encoding,
        "stdout_write_through": sys.stdout.write_through,
        "stdout_line_buffering": sys.stdout.line_buffering,
        "filesystem_encoding": sys.getfilesystemencoding(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("PYTHON", "MLXK", "LC_"))},
        "modules": sorted(
            m for m in ("sitecustomize", "usercustomize", "mlx", "vendor_pth_marker", "msty_mlx_guard") if m in sys.modules
        ),
        "mlxk2_file": mlxk2.__file__,
        "user_site_enabled": __import__("site").ENABLE_USER_SITE,
        "sigint_raises_keyboard_interrupt": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        "sigpipe_ignored": signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN,
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "maps": _mapped_objects(),
    }


def _mapped_objects():
    """The shared objects mapped into this process (Linux), to show which were loaded."""
    try:
        with open("/proc/self/maps") as maps:
            fields = [line.split(None, 5) for line in maps]
    except OSError:
        return []
    return sorted({f[5].strip() for f in fields if len(f) == 6 and (".so" in f[5] or ".dylib" in f[5])})


def _child_code():
    return "import json, mlxk2.cli as c; print(json.dumps(c.report()))"


def _mp_report(queue):
    queue.put(report())


def _mp_token(queue, name):
    started = name.encode() + b"=" in open("/proc/self/environ", "rb").read()
    queue.put({"os_environ": name in os.environ, "started_with": started})


_LISTEN = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print('listening', flush=True)"


def _mp_listen():
    exec(_LISTEN)


def main():
    args = sys.argv[1:]
    command = args[0] if args else "report"
    rest = args[1:]
    if command in ("--version", "version"):
        print(f"{os.path.basename(sys.argv[0])} {mlxk2.__version__}")
        return 0
    if command == "report":
        print(json.dumps(report()))
        return 0
    if command == "env":
        # The named variables as this process sees them (null when unset).
        print(json.dumps({name: os.environ.get(name) for name in rest}))
        return 0
    if command == "report-wait":
        # A report, then another once a line arrives on stdin: one process seen twice (while
        # something else happens meanwhile, e.g. another start from another bundle).
        print(json.dumps(report()), flush=True)
        sys.stdin.readline()
        print(json.dumps(report()), flush=True)
        return 0
    if command == "exit":
        value = rest[0]
        if value == "none":
            sys.exit(None)
        if value.startswith("str:"):
            sys.exit(value[4:])
        sys.exit(int(value))
    if command == "return":
        return int(rest[0])
    if command == "raise":
        raise RuntimeError("fixture failure")
    if command == "interrupt":
        raise KeyboardInterrupt
    if command == "write":
        # Output exactly as given (no trailing newline), then optionally more after a pause.
        sys.stdout.write(rest[0])
        for more in rest[1:]:
            time.sleep(0.3)
            sys.stdout.write(more)
        return 0
    if command == "args-hex":
        # The exact bytes of each argument after argv[0] (os.fsencode undoes surrogateescape).
        print(" ".join(os.fsencode(a).hex() for a in sys.argv[1:]))
        return 0
    if command == "paths-hex":
        # The interpreter's own paths as bytes (os.fsencode undoes surrogateescape).
        for name, value in (("executable", sys.executable), ("prefix", sys.prefix), ("path0", sys.path[0]),
                            ("mlxk2_file", mlxk2.__file__), ("argv0", sys.argv[0])):
            print(name, os.fsencode(value).hex())
        return 0
    if command == "handshake":
        # Writes "a", waits for a line on stdin, writes "b": proves output is not held back.
        sys.stdout.write("a")
        sys.stdin.readline()
        sys.stdout.write("b")
        return 0
    if command == "print":
        print(rest[0])
        return 0
    if command == "stderr":
        print(rest[0], file=sys.stderr)
        return 0
    if command == "lost-sigint":
        # cpython#95959 on demand: a SIGINT whose KeyboardInterrupt is raised inside a weakref
        # callback (as when it lands while importlib runs one) is printed as "Exception
        # ignored" and dropped; then sleep SECONDS and exit 0 as if nothing had happened.
        import weakref

        class Thing:
            pass

        def callback(_ref):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100000):  # the handler runs at the next bytecode boundary: here
                pass

        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing
        time.sleep(float(rest[0]))
        print("survived", ref)
        return 0
    if command == "sleep":
        # sleep SECONDS [RECORD_FILE]: with a file, a SIGTERM handler appends each signal
        # received and exits 0 half a second after the first (to catch a duplicate).
        seconds = float(rest[0])
        if len(rest) > 1:
            record = rest[1]
            received = []

            def on_term(signum, frame):
                with open(record, "a") as f:
                    f.write(f"{signal.Signals(signum).name}\n")
                received.append(signum)

            signal.signal(signal.SIGTERM, on_term)
            print("ready", flush=True)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if received:
                    time.sleep(0.5)
                    sys.exit(0)
                time.sleep(0.02)
            return 0
        print("ready", flush=True)
        time.sleep(seconds)
        return 0
    if command == "asyncio-signal":
        import asyncio

        async def wait():
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda s=sig: (print(f"got {signal.Signals(s).name}", flush=True), stop.set()))
            print("ready", flush=True)
            await asyncio.wait_for(stop.wait(), 30)
            return 7

        return asyncio.run(wait())
    if command == "child":
        # What a subprocess started through sys.executable sees.
        out = subprocess.run([sys.executable, "-c", _child_code()], check=True, capture_output=True, text=True)
        sys.stdout.write(out.stdout)
        return 0
    if command == "child-module":
        out = subprocess.run([sys.executable, "-m", "mlxk2.child"], check=True, capture_output=True, text=True)
        sys.stdout.write(out.stdout)
        return 0
    if command == "worker":
        # Like mlx-knife's supervised serve worker: a new session, a copy of os.environ.
        bootstrap = "import sys, runpy; sys.path.insert(0, sys.argv[2]); runpy.run_module(sys.argv[1], run_name='__main__')"
        here = os.path.dirname(os.path.dirname(os.path.abspath(mlxk2.__file__)))
        out = subprocess.run(
            [sys.executable, "-c", bootstrap, "mlxk2.child", here],
            check=True, capture_output=True, text=True, start_new_session=True, env=dict(os.environ),
        )
        sys.stdout.write(out.stdout)
        return 0
    if command == "multiprocessing":
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_mp_report, args=(queue,))
        proc.start()
        result = queue.get(timeout=60)
        proc.join()
        print(json.dumps(result))
        return 0
    if command == "token-trail":
        # Where MLXK2_SERVE_TOKEN is (true/false, never its value): this process, a python3
        # child started like mlx-knife's serve worker (its os.environ, the environment it was
        # started with, and its own python3 child's), a non-Python child, a multiprocessing child.
        name = "MLXK2_SERVE_TOKEN"
        probe = (
            "import json, os, subprocess, sys\n"
            f"name = {name!r}\n"
            "started = name.encode() + b'=' in open('/proc/self/environ', 'rb').read()\n"
            "print(json.dumps({'os_environ': name in os.environ, 'started_with': started}))\n"
        )
        child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=dict(os.environ))
        grand = (
            "import json, subprocess, sys\n"
            f"print(json.dumps(subprocess.run([sys.executable, '-c', {probe!r}], capture_output=True, text=True).stdout))\n"
        )
        grandchild = subprocess.run([sys.executable, "-c", grand], capture_output=True, text=True)
        other = subprocess.run(["env"], capture_output=True, text=True).stdout
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_mp_token, args=(queue, name))
        proc.start()
        spawned = queue.get(timeout=60)
        proc.join()
        print(json.dumps({
            "launcher_os_environ": name in os.environ,
            "python_child": json.loads(child.stdout),
            "python_grandchild": json.loads(json.loads(grandchild.stdout)),
            "env_child": f"\n{name}=" in f"\n{other}",
            "multiprocessing_child": spawned,
            "stderr": child.stderr + grandchild.stderr,
        }))
        return 0
    if command == "listen":
        # A TCP listener that no guard attached to: here (`listen here`) or in a python3 child
        # started with `-c` and the options given (`listen -I -c`, `listen -Ic`), or in a
        # multiprocessing child of the given start method (`listen forkserver`).
        if rest[:1] == ["here"]:
            exec(_LISTEN)
            return 0
        if rest[:1] in (["spawn"], ["forkserver"]):
            import multiprocessing

            proc = multiprocessing.get_context(rest[0]).Process(target=_mp_listen)
            proc.start()
            proc.join()
            return proc.exitcode
        return subprocess.run([sys.executable, *(rest or ["-c"]), _LISTEN]).returncode
    if command == "python":
        # sys.executable with these arguments, its output passed through.
        return subprocess.run([sys.executable, *rest]).returncode
    if command == "import":
        # Import modules by name (to show they load without writing bytecode).
        for name in rest:
            __import__(name)
        print("imported", " ".join(rest))
        return 0
    print(f"fixture mlxk2: unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
