"""Build pure-Python wheels from the fixture directories, with the standard library only.

Each fixture directory holds `fixture.json` (name, version, summary, requires_python,
requires_dist; optionally `metadata` to write a deliberately broken METADATA verbatim, or
`omit_metadata`) and the files to pack, relative to the wheel root. The wheels follow the
binary distribution format (METADATA, WHEEL, RECORD with sha256), so `pip install --target`
writes exactly what it writes for a PyPI wheel.

usage: python3 make_wheels.py OUT_DIR FIXTURE_DIR [FIXTURE_DIR ...]
"""

import base64
import hashlib
import json
import os
import re
import sys
import zipfile


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def metadata(spec):
    if "metadata" in spec:
        return spec["metadata"]
    lines = ["Metadata-Version: 2.1", f"Name: {spec['name']}", f"Version: {spec['version']}"]
    if spec.get("summary"):
        lines.append(f"Summary: {spec['summary']}")
    if spec.get("requires_python"):
        lines.append(f"Requires-Python: {spec['requires_python']}")
    lines += [f"Requires-Dist: {req}" for req in spec.get("requires_dist", [])]
    return "\n".join(lines) + "\n\n"


def build(out_dir, fixture_dir):
    with open(os.path.join(fixture_dir, "fixture.json")) as f:
        spec = json.load(f)
    dist = re.sub(r"[-_.]+", "_", spec["name"]).lower()
    version = spec["version"]
    tag = spec.get("tag", "py3-none-any")
    dist_info = f"{dist}-{version}.dist-info"
    files = []
    for root, dirs, names in os.walk(fixture_dir):
        # Like a real backend, pack the project's files only: not a bundler output built inside
        # the tree (dist-ext-python/, an installer's lock files) nor build leftovers.
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "_build", "dist-ext-python") and not d.startswith(".") and not d.endswith(".egg-info"))
        for name in sorted(names):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, fixture_dir).replace(os.sep, "/")
            if rel in ("fixture.json", "pyproject.toml"):
                continue
            with open(full, "rb") as f:
                files.append((rel, f.read()))
    meta = [("WHEEL", f"Wheel-Version: 1.0\nGenerator: msty-mlx-studio-fixtures\nRoot-Is-Purelib: {'true' if tag.endswith('-any') else 'false'}\nTag: {tag}\n")]
    if not spec.get("omit_metadata"):
        meta.append(("METADATA", metadata(spec)))
    tops = sorted({rel.split("/")[0].removesuffix(".py") for rel, _ in files if rel.endswith(".py") or "/" in rel})
    if tops and not spec.get("omit_top_level"):
        meta.append(("top_level.txt", "\n".join(tops) + "\n"))
    files += [(f"{dist_info}/{name}", text.encode()) for name, text in meta]
    record = [record_line(rel, data) for rel, data in files] + [f"{dist_info}/RECORD,,"]
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    wheel = os.path.join(out_dir, f"{dist}-{version}-{tag}.whl")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, data in files:
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, data, zipfile.ZIP_DEFLATED)
    return wheel


def main(argv):
    out_dir, fixtures = argv[0], argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    for fixture in fixtures:
        print(build(out_dir, fixture))


if __name__ == "__main__":
    main(sys.argv[1:])
