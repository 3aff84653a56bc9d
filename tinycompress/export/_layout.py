"""The file layout the packages share: the API header in include/, the sources and the private
headers (weights, runtime) in src/, so a user's include path holds nothing but PREFIX.h."""

from __future__ import annotations

from ._model import Model, render


def split_layout(m: Model, include: str = "include", src: str = "src") -> dict[str, bytes]:
    files = {f"{include}/{m.public_header}": m.files[m.public_header]}
    for f in m.sources + m.private_headers:
        files[f"{src}/{f}"] = m.files[f]
    return files


def example_c(m: Model, path: str) -> bytes:
    """A C99 program that runs one inference and prints the outputs (stdio)."""
    return render("example_main.c.j2", m=m, path=path)


def readme(m: Model, fmt: str, name: str, **context) -> bytes:
    return render(f"{fmt}/README.md.j2", m=m, name=name, **context)
