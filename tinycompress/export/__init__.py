"""export: a compiled OUTDIR as a package the firmware ecosystem's own tools take as it is.

One module per format (cmake, arduino, zephyr, platformio), each with `TITLE`,
`package_name(name) -> name` (the package's name checked against the format's rules) and
`package(model, meta) -> {relative path: bytes}`; arduino also checks DEST's folder name. The
package's files are generated in memory, then written atomically (see _write.py); nothing is
written when anything is refused.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import UserError
from ._model import Model, load_model
from ._write import MARKER, check_dest, check_zip, marker, write_file, write_tree, zip_bytes

FORMATS = ("cmake", "arduino", "zephyr", "platformio")
DEFAULT_URL = "https://example.invalid/"  # RFC 2606: a placeholder until the user sets --url
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


@dataclass(frozen=True)
class Meta:
    """Package metadata: name (None: from the model's prefix), version, author, url."""

    name: str | None = None
    version: str = "1.0.0"
    author: str = "tinycompress"
    url: str = DEFAULT_URL

    def __post_init__(self):
        if not _SEMVER.fullmatch(self.version):
            raise UserError(f"--lib-version '{self.version}' is not a semantic version: "
                            "write MAJOR.MINOR.PATCH, e.g. 1.0.0")
        for key in ("name", "author", "url"):
            value = getattr(self, key)
            if value is not None and (not value.strip() or re.search(r"[\x00-\x1f\x7f]", value)):
                raise UserError(f"--{'lib-' if key == 'name' else ''}{key} {value!r} must be "
                                "one non-empty line")
        if not re.fullmatch(r"https?://\S+", self.url):
            raise UserError(f"--url '{self.url}' is not an http(s) URL")


@dataclass
class ExportResult:
    format: str
    dest: Path
    name: str
    files: list[str]
    example_input: str
    zip: Path | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"format": self.format, "dest": str(self.dest), "name": self.name,
                "files": self.files, "example_input": self.example_input,
                "zip": str(self.zip) if self.zip else None, "notes": self.notes}


def format_module(fmt: str):
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}': choose one of {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{fmt}")


def package_name(mod, model: Model, meta: Meta) -> str:
    """meta.name, or the format's default for the model's prefix, checked against its rules."""
    if meta.name is not None:
        return mod.package_name(meta.name)
    return mod.package_name(getattr(mod, "default_name", str)(model.name))


def build(model: Model, fmt: str, meta: Meta = Meta()) -> tuple[str, dict[str, bytes]]:
    """(package name, the package's files: relative path -> bytes, marker included). Writes
    nothing."""
    mod = format_module(fmt)
    name = package_name(mod, model, meta)
    files = mod.package(model, replace(meta, name=name))
    files[MARKER] = marker(files, format=fmt, name=name, model=model.name,
                           model_sha256=model.sha256)
    return name, files


def export(outdir: Path | str, fmt: str, dest: Path | str, *, meta: Meta = Meta(),
           zip: bool = False) -> ExportResult:
    """Packages the compiled model in OUTDIR as `fmt` into DEST (and DEST.zip with zip=True)."""
    mod = format_module(fmt)
    dest = Path(dest)
    model = load_model(outdir)
    if hasattr(mod, "check_folder"):
        mod.check_folder(dest)
    check_dest(dest)
    name, files = build(model, fmt, meta)
    zpath = data = None
    if zip:
        zpath = dest.with_name(dest.name + ".zip")
        check_zip(zpath)
        data = zip_bytes(dest.name, files)
    write_tree(dest, files)
    if zpath is not None:
        write_file(zpath, data)
    return ExportResult(format=fmt, dest=dest, name=name, files=sorted(files),
                        example_input=model.example_source, zip=zpath)
