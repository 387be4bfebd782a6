"""msty-mlx-studio's guard of the served port (docs/security.md, "The served port").

A Host, Origin and token check in front of the ASGI app of every process that serves HTTP under
the launcher. The launcher's own interpreter loads this file before mlx-knife runs
(`launcher_start`, called by the runtime); every python3 started under the launcher imports it
first through `sitecustomize` (`child_start`), because the launcher puts this directory ahead of
`_vendor` on the children's PYTHONPATH. No file of mlx-knife's is read or changed.

Where it attaches: where uvicorn loads the app (`uvicorn.config.Config.load`, which every way of
running uvicorn goes through: `uvicorn.run("module:app")`, an app object, a factory,
`Server(config)`), not to mlx-knife's modules, whose names and app variables change between
versions. It fails closed: a process that starts listening on TCP without the guard attached
(a server other than uvicorn, a uvicorn whose `Config` changed) writes one line and exits 89.

The settings come from the environment, decided by the launcher (src/guard.rs):
`MLXK2_SERVE_TOKEN` (the secret; taken out of the environment at start), `MLXK2_SERVE_TOKEN_REQUIRED`
(`1`: a token was given, so a server without one must not start) and `MLXK2_ALLOWED_ORIGINS`
(normalized origins, comma-separated).
"""

import os
import sys

#: What the launcher's runtime passes to `launcher_start`; a guard file of another API refuses.
API = 1
#: LauncherExit::Guard (crates/contract/src/exit_code.rs).
EXIT = 89
NAME = "msty-mlx-studio"

TOKEN_VAR = "MLXK2_SERVE_TOKEN"
REQUIRED_VAR = "MLXK2_SERVE_TOKEN_REQUIRED"
ORIGINS_VAR = "MLXK2_ALLOWED_ORIGINS"

#: Readiness proof (docs/electron.md): a request carrying a challenge gets back
#: HMAC-SHA256(token, PROOF_CONTEXT + challenge) in hex, whatever its status.
CHALLENGE_HEADER = b"x-msty-guard-challenge"
PROOF_HEADER = b"x-msty-guard-proof"
PROOF_CONTEXT = b"msty-mlx-studio guard proof v1\n"

# This file's directory (also msty_mlx_guard_app's), taken once: `__file__` is absolute (the
# launcher and the children's PYTHONPATH name the guard's directory by its absolute path).
_HERE = os.path.dirname(os.path.abspath(__file__))


class _State:
    """This process's guard: its settings, and whether it attached."""

    token = None  # bytes, or None: no token
    required = False
    origins = frozenset()
    started = False  # launcher_start or child_start ran
    attached = False
    broken = None  # why the guard could not be installed where it attaches, if it could not


_state = _State()


class GuardError(Exception):
    """The launcher's interpreter cannot use this guard (the runtime turns it into exit 89)."""


def fail(message, hint):
    """One line on stderr, and exit 89 at once: nothing of this process may serve unguarded."""
    line = f"{NAME}: error: {message}; {hint}\n"
    try:
        os.write(2, line.encode("utf-8", "backslashreplace"))
    except OSError:
        pass
    os._exit(EXIT)


def launcher_start(api):
    """In the launcher's interpreter, before mlx-knife runs: the token leaves the environment
    (it reaches the python3 children mlx-knife starts through subprocess, its serve worker
    among them, and nothing else), and the hooks are installed."""
    if api != API:
        raise GuardError(
            f"the guard `{__file__}` speaks API {API}, this launcher API {api}; "
            "rebuild the bundle so that launcher and guard come from one release"
        )
    _start(hand_token_on=True)


def child_start():
    """In a python3 child, from sitecustomize or the `-c` prelude the guard gives a child that
    skips sitecustomize (once, whichever comes first): the token leaves its environment (none of
    its own children inherit it), and the hooks are installed."""
    _start(hand_token_on=False)


def _start(hand_token_on):
    if _state.started:
        return
    _state.started = True
    _take_settings()
    _install(
        {
            "uvicorn.config": _attach_to_uvicorn,
            "socket": _listen_backstop,
            "subprocess": lambda module: _guard_python_children(module, hand_token_on),
            "multiprocessing.util": _guard_multiprocessing_children,
        }
    )


def _take_settings():
    token = os.environ.pop(TOKEN_VAR, None)  # os.environ's pop also unsets it for C code
    _state.token = token.encode("ascii") if token else None
    _state.required = os.environ.get(REQUIRED_VAR) == "1"
    origins = os.environ.get(ORIGINS_VAR, "").split(",")
    _state.origins = frozenset(o.strip().encode("ascii") for o in origins if o.strip())


def _install(patches):
    """Patches each module right after it is executed (now, if it already was)."""
    for name in [n for n in patches if n in sys.modules]:
        patches.pop(name)(sys.modules[name])
    if patches:
        sys.meta_path.insert(0, _PostImport(patches))


class _PostImport:
    """A `sys.meta_path` finder that lets the other finders find a module and wraps its loader,
    so that a patch runs right after the module's code. Plain duck typing: importing
    importlib.abc would cost every python3 start a millisecond."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        patch = self.patches.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


class _PatchingLoader:
    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name):  # get_source, get_resource_reader, is_package, …
        return getattr(self._loader, name)


def _attach_to_uvicorn(module):
    config = getattr(module, "Config", None)
    load = getattr(config, "load", None)
    if not callable(load):
        _state.broken = "uvicorn.config.Config has no load() (an unsupported uvicorn)"
        return

    def load_guarded(self, *args, **kwargs):
        load(self, *args, **kwargs)
        app = getattr(self, "loaded_app", None)
        if app is None:
            fail(
                "the served port's guard cannot attach: uvicorn's Config.load() set no loaded_app "
                "(an unsupported uvicorn)",
                "use a bundle whose launcher supports this mlx-knife, or set MLXK2_GUARD=off to serve unguarded",
            )
        self.loaded_app = _guarded(app, self)

    load_guarded.__wrapped__ = load
    config.load = load_guarded


def _guarded(app, config):
    """The app, behind the guard, for a server configured by `config` (its bind address)."""
    host = getattr(config, "host", None)
    local = getattr(config, "uds", None) is None and getattr(config, "fd", None) is None and _is_loopback(host)
    if _state.required and _state.token is None:
        fail(
            f"the served port's guard has no token in this process (pid {os.getpid()}), although the app set one",
            "this mlx-knife starts its server in a way the launcher does not hand the token to; "
            "use a launcher that supports it, or start without a token on loopback",
        )
    if not local and _state.token is None:
        where = f"`{host}`" if getattr(config, "uds", None) is None else "a unix socket"
        fail(
            f"serve was told to bind {where}, beyond loopback, without a token",
            "set MLXK2_SERVE_TOKEN (the Electron module's `token` option), or bind 127.0.0.1",
        )
    _state.attached = True
    return _app_module().Guard(app, host, _state.token, _state.origins)


def _app_module():
    """`msty_mlx_guard_app` (the ASGI part), from this file's directory: only a process that
    serves pays for compiling it."""
    module = sys.modules.get("msty_mlx_guard_app")
    if module is None:
        sys.path.insert(0, _HERE)
        try:
            import msty_mlx_guard_app as module
        finally:
            sys.path.remove(_HERE)
    return module


def _is_loopback(host):
    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    import ipaddress

    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _listen_backstop(module):
    """Fail closed: a TCP listener before the guard attached is a server the guard is not in."""
    cls = module.socket
    listen = cls.listen
    inet = (module.AF_INET, getattr(module, "AF_INET6", module.AF_INET))

    def guarded_listen(self, *args):
        if not _state.attached and self.family in inet:
            try:
                where = self.getsockname()
            except OSError:
                where = "?"
            why = _state.broken or "nothing in it loaded an ASGI app through uvicorn's Config.load()"
            fail(
                f"a server in this process (pid {os.getpid()}) started listening on {where}, "
                f"but the served port's guard did not attach: {why}",
                "this mlx-knife serves in a way the launcher's guard does not support; use a launcher that "
                "supports it, or set MLXK2_GUARD=off to serve unguarded",
            )
        return listen(self, *args)

    cls.listen = guarded_listen


def _prelude():
    """Python that starts the guard in a process whose `site` does not run its sitecustomize."""
    return (
        f"import sys; sys.path.insert(0, {_HERE!r}); import msty_mlx_guard; sys.path.remove({_HERE!r}); "
        "msty_mlx_guard.child_start(); del msty_mlx_guard; "
    )


def _guard_python_children(module, hand_token_on):
    """The python3 processes started through subprocess run the guard: the launcher's
    interpreter gives them the token (mlx-knife's serve worker is one; no other process gets it),
    and one that would skip the guard's sitecustomize (`-I`, `-E`, `-S`, a PYTHONPATH without
    it first) gets a `-c` command that starts the guard first."""
    popen = module.Popen
    init = popen.__init__
    executable = sys.executable

    def __init__(self, args, *rest, **kwargs):
        if _is_python(kwargs.get("executable") or _program(args), executable):
            env = kwargs.get("env")
            if hand_token_on and _state.token is not None:
                env = dict(os.environ if env is None else env)
                env[TOKEN_VAR] = _state.token.decode("ascii")
                kwargs["env"] = env
            args = _with_prelude(args, os.environ if env is None else env)
        init(self, args, *rest, **kwargs)

    __init__.__wrapped__ = init
    popen.__init__ = __init__


def _with_prelude(args, env):
    """`args` of a python3 `-c` child that would not run the guard's sitecustomize, its command
    run after the guard's prelude (`exec`, so that its own `from __future__` and line numbers
    stay); any other `args` unchanged (a `-m` or script child that skips `site` cannot reach
    `_vendor` without code of its own: docs/security.md, "Residuals")."""
    if isinstance(args, (str, bytes, os.PathLike)) or not all(isinstance(a, str) for a in args[1:]):
        return args  # the program may be bytes (multiprocessing's is in the launcher), its options not
    skips = not _guard_first_on_path(env)
    at = 1
    while at < len(args):
        arg = args[at]
        if arg == "--check-hash-based-pycs":
            at += 2
            continue
        if not arg.startswith("-") or arg.startswith("--") or arg == "-":
            return args  # a script, stdin, --help or --version
        # A cluster of one-letter options (`-sIBc`); W, X, m and c take the rest or the next argument.
        takes = next((i for i, flag in enumerate(arg[1:], 2) if flag in "WXmc"), len(arg) + 1)
        skips = skips or any(flag in "IES" for flag in arg[1 : takes - 1])
        if takes > len(arg):
            at += 1
            continue
        flag, value, end = arg[takes - 1], arg[takes:], at + 1
        if not value:
            value, end = (args[at + 1] if at + 1 < len(args) else None), at + 2
        if flag in "WX":
            at = end
            continue
        if flag == "m" or value is None or not skips:
            return args
        command = f"{_prelude()}exec(compile({value!r}, '<string>', 'exec'))"
        return [*args[:at], arg[:takes], command, *args[end:]]
    return args


def _guard_first_on_path(env):
    """Whether `env`'s PYTHONPATH has the guard's directory first (its sitecustomize runs)."""
    path = env.get("PYTHONPATH")
    if not path:
        return False
    first = os.fsdecode(path).split(os.pathsep)[0]
    return first == _HERE or os.path.realpath(first) == os.path.realpath(_HERE)


def _guard_multiprocessing_children(module):
    """multiprocessing's spawn children, its forkserver and resource tracker start through
    `util.spawnv_passfds` with their parent's flags (the launcher's interpreter's `-I`: no
    PYTHONPATH, so no sitecustomize): their `-c` command starts the guard first."""
    spawnv_passfds = module.spawnv_passfds

    def guarded_spawnv_passfds(path, args, passfds):
        return spawnv_passfds(path, _with_prelude(args, os.environ), passfds)

    guarded_spawnv_passfds.__wrapped__ = spawnv_passfds
    module.spawnv_passfds = guarded_spawnv_passfds


def _program(args):
    if isinstance(args, (str, bytes, os.PathLike)):
        return args
    try:
        return args[0]
    except (TypeError, IndexError, KeyError):
        return None


def _is_python(program, executable):
    if program is None or not executable:
        return False
    try:
        program = os.fsdecode(program)
    except TypeError:
        return False
    return program == executable or os.path.realpath(program) == os.path.realpath(executable)
