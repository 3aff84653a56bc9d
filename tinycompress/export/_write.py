"""Writing a package: all of it or nothing, and never over files tinycompress did not write.

The package is built in a temporary directory beside DEST and moved into place. DEST may be new,
an empty directory, or an earlier export (it holds MARKER, which lists its files); anything else
is refused, as is an earlier export that has gained files of the user's."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from .. import __version__
from ..errors import UserError

MARKER = "tinycompress-export.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def marker(files: dict[str, bytes], **info) -> bytes:
    """The marker file: what wrote the package and the SHA-256 of every file in it."""
    body = {"tinycompress": __version__, **info,
            "files": {f: hashlib.sha256(d).hexdigest() for f, d in sorted(files.items())}}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def _owned(dest: Path) -> set[str] | None:
    """The files of an earlier export in dest (its marker's list), None if dest is not one."""
    try:
        old = json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict) or "tinycompress" not in old or not isinstance(
            old.get("files"), dict):
        return None
    return set(old["files"]) | {MARKER}


def _existing(dest: Path) -> list[str]:
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if not p.is_dir())


def check_dest(dest: Path) -> None:
    """UserError unless dest is new, empty or an earlier export with only its own files."""
    if not dest.exists():
        return
    if not dest.is_dir():
        raise UserError(f"-o {dest} exists and is not a directory: choose a new directory")
    present = _existing(dest)
    if not present:
        return
    owned = _owned(dest)
    if owned is None:
        raise UserError(f"-o {dest} exists, is not empty and was not written by tinycompress "
                        "export: choose a new or empty directory")
    foreign = [f for f in present if f not in owned]
    if foreign:
        raise UserError(f"{dest / foreign[0]} was not written by tinycompress export: move it "
                        f"out of {dest} or choose a new directory")


def write_tree(dest: Path, files: dict[str, bytes]) -> None:
    """Writes files (relative POSIX paths) as the whole content of dest, atomically."""
    dest = Path(dest)
    check_dest(dest)
    parent = dest.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=parent))
    old = None
    try:
        for rel, data in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=parent))
            os.replace(dest, old / "d")
        try:
            os.replace(tmp, dest)
        except OSError:
            if old is not None:
                os.replace(old / "d", dest)
            raise
    finally:
        for d in (tmp, old):
            if d is not None and d.exists():
                shutil.rmtree(d, ignore_errors=True)


def zip_bytes(top: str, files: dict[str, bytes]) -> bytes:
    """A reproducible zip (fixed dates, sorted) of files under the folder `top`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(files):
            info = zipfile.ZipInfo(f"{top}/{rel}", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[rel])
    return out.getvalue()


def check_zip(path: Path) -> None:
    """UserError unless path is free or a zip an earlier export wrote (it holds a MARKER)."""
    if not path.exists():
        return
    try:
        with zipfile.ZipFile(path) as zf:
            ours = any(n.endswith("/" + MARKER) for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        ours = False
    if not ours:
        raise UserError(f"{path} exists and was not written by tinycompress export: "
                        "remove it or choose another -o")


def write_file(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.resolve().parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
