"""Saving a Keras model the way every training command does: a .keras file, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import UserError


def check_keras_output(out: Path) -> None:
    """Refuse an output name Keras 3 cannot save to, before any training."""
    if Path(out).suffix != ".keras":
        raise UserError(f"-o {out}: the model is saved as Keras 3; use a .keras name")


def save_keras(model, out: Path, marker: dict | None = None) -> None:
    """Save ``model`` to ``out`` through a temporary file in the same directory, with what the
    command did to it (`marker`, frontends/marker.py) inside."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".keras", dir=out.parent)
    os.close(fd)
    try:
        model.save(tmp)
        if marker is not None:
            from ..frontends import marker as markers

            markers.write(Path(tmp), marker)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
