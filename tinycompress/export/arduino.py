"""`export --format arduino`: an Arduino library in the 1.5 format (Arduino library
specification rev. 2.2, arduino-cli docs/library-specification.md).

    DEST/library.properties      name, version, author, maintainer, sentence, paragraph,
                                 category, url, architectures, includes=PREFIX.h
    DEST/src/PREFIX.h            the API: the only header in src/, so "Include Library" adds it
    DEST/src/PREFIX/             the generated sources and private headers (src/ is compiled
                                 recursively and is the only include path: PREFIX.c finds
                                 PREFIX.h there, its own headers beside it)
    DEST/examples/Inference/Inference.ino   one inference on a stored input, output over Serial
    DEST/keywords.txt            syntax colouring of the API

Names (spec): the library name has letters, digits, spaces, _ . - only, starts with a letter or
digit, holds a letter, at most 63 characters, and does not start with "Arduino" (reserved for
official libraries); the root folder (DEST) and a sketch folder likewise without spaces, and a
sketch's main .ino file is named as its folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UserError
from ._model import Model, render

TITLE = "Arduino library"
EXAMPLE = "Inference"
CATEGORY = "Data Processing"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}")
_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def default_name(prefix: str) -> str:
    return prefix.lstrip("_")


def package_name(name: str) -> str:
    if not _NAME.fullmatch(name) or not re.search(r"[A-Za-z]", name):
        raise UserError(f"Arduino library name '{name}' is invalid: letters, digits, spaces, "
                        "_ . - only, starting with a letter or digit, with a letter, at most 63 "
                        "characters (--lib-name sets it)")
    if name.startswith("Arduino"):
        raise UserError(f"Arduino library name '{name}': names starting with 'Arduino' are "
                        "reserved for official libraries; choose another --lib-name")
    return name


def check_folder(dest: Path) -> None:
    """The library root folder's name rule."""
    if not _FOLDER.fullmatch(dest.name):
        raise UserError(f"-o {dest}: an Arduino library folder name has letters, digits, "
                        "_ . - only, starts with a letter or digit and has at most 63 characters")


def package(m: Model, meta) -> dict[str, bytes]:
    files = {f"src/{m.public_header}": m.files[m.public_header]}
    for f in m.sources + m.private_headers:
        files[f"src/{m.name}/{f}"] = m.files[f]
    files["library.properties"] = render(
        "arduino/library.properties.j2", m=m, meta=meta, category=CATEGORY)
    files[f"examples/{EXAMPLE}/{EXAMPLE}.ino"] = render(
        "arduino/example.ino.j2", m=m, path=f"{EXAMPLE}.ino")
    files["keywords.txt"] = render("arduino/keywords.txt.j2", m=m)
    files["README.md"] = render("arduino/README.md.j2", m=m, name=meta.name, example=EXAMPLE)
    return files
