"""Two repairs of CPython's private importlib (`_frozen_importlib_external`, 3.10-3.13) for
the per-user bytecode cache, both found by the full-file-system fault test
(launcher-tests/faults/cache.rs):

- `_write_atomic` ignores a short write, so a file system that fills up mid-write gets a torn
  pyc renamed into place (CPython fixed it the same way in 3.12.8 and 3.13.1, gh-126606). Here
  a short write is an `OSError`: the temporary file is removed, and CPython skips that pyc as
  it does after any write error.
- A torn pyc whose header still matches its source makes every later import of that module
  fail with `EOFError` (every later start). Here such a pyc is removed and the source compiled,
  as if there were no pyc. Only that case: an `EOFError` raised while unmarshalling the cached
  pyc's code (what a pyc cut short raises, at every cut). Any other error, from the source,
  from the loader or a subclass of it, or from a pyc damaged otherwise, propagates untouched,
  and no file is removed.

Both replace private attributes, so `install` first checks that this is a CPython they were
written against and that every attribute they replace or use is there, with the parameters
they expect. If not, it changes nothing and returns why: the runtime logs that line, and the
start goes on without the repairs.

Run by the runtime (`start.rs`) when the launcher writes bytecode to its per-user cache, after
`_vendor`'s `.pth` files ran (an importlib one of them changed is what the guard then checks) and
before mlxk2 is imported. A module a `.pth` file imports is read without the torn-pyc repair (and
written by nobody: bytecode writing starts after this).
"""

KNOWN_VERSIONS = ((3, 10), (3, 11), (3, 12), (3, 13))

# The functions used or replaced, with their positional parameters in 3.10-3.13.
FUNCTIONS = {
    "_write_atomic": ("path", "data", "mode"),
    "_compile_bytecode": ("data", "name", "bytecode_path", "source_path"),
    "SourceLoader.get_code": ("self", "fullname"),
}

# The modules the replacement `_write_atomic` writes with, and what it needs of them.
MODULES = {
    "_os": ("open", "replace", "unlink", "O_EXCL", "O_CREAT", "O_WRONLY"),
    "_io": ("FileIO",),
}


def unexpected(bx, version_info):
    """Why `bx` is not the importlib the repairs were written against, or None."""
    if tuple(version_info[:2]) not in KNOWN_VERSIONS:
        major, minor = version_info[:2]
        return f"CPython {major}.{minor}: they are written against the importlib of 3.10-3.13"
    for dotted, parameters in FUNCTIONS.items():
        function = bx
        for part in dotted.split("."):
            function = getattr(function, part, None)
        code = getattr(function, "__code__", None)
        if code is None:
            return f"_frozen_importlib_external.{dotted} is missing or not a Python function"
        if code.co_varnames[: code.co_argcount] != parameters:
            found = ", ".join(code.co_varnames[: code.co_argcount])
            return f"_frozen_importlib_external.{dotted} takes ({found}), not ({', '.join(parameters)})"
    for name, attributes in MODULES.items():
        missing = [a for a in attributes if not hasattr(getattr(bx, name, None), a)]
        if missing:
            return f"_frozen_importlib_external.{name} lacks {', '.join(missing)}"
    return None


def install(bx, version_info):
    """Installs both repairs into `bx` (the running `_frozen_importlib_external`); returns None,
    or why nothing was changed."""
    why = unexpected(bx, version_info)
    if why is not None:
        return why
    os, io = bx._os, bx._io
    get_code = bx.SourceLoader.get_code
    unmarshalling = bx._compile_bytecode.__code__

    def _write_atomic(path, data, mode=0o666):
        tmp = f"{path}.{id(path)}"
        fd = os.open(tmp, os.O_EXCL | os.O_CREAT | os.O_WRONLY, mode & 0o666)
        try:
            with io.FileIO(fd, "wb") as file:
                view = memoryview(data)
                while view:
                    n = file.write(view)
                    if not n:
                        raise OSError("short write to " + tmp)
                    view = view[n:]
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def get_code_or_compile(self, fullname):
        try:
            return get_code(self, fullname)
        except EOFError as error:
            torn = torn_pyc(error, unmarshalling)
            if torn is None:
                raise
            bytecode_path, source_path = torn
            try:
                os.unlink(bytecode_path)
            except OSError:
                pass
            return self.source_to_code(self.get_data(source_path), source_path)

    bx._write_atomic = _write_atomic
    bx.SourceLoader.get_code = get_code_or_compile
    return None


def torn_pyc(error, unmarshalling):
    """(bytecode path, source path) when `error` was raised by the code of `_compile_bytecode`
    itself (its `marshal.loads`: no Python frame below it) for a pyc with a source; else None."""
    traceback = error.__traceback__
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    frame = traceback.tb_frame
    if frame.f_code is not unmarshalling:
        return None
    bytecode_path, source_path = frame.f_locals["bytecode_path"], frame.f_locals["source_path"]
    if bytecode_path is None or source_path is None:
        return None
    return bytecode_path, source_path
