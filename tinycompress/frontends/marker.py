"""What a training command did to a model, carried inside its .keras file.

`compress`, `qat` and `distill` save a Keras 3 .keras file (a zip); they add one member,
MEMBER (JSON), saying what they did, and `compile` reads it to choose the storage and
quantisation that keep it (without flags; explicit flags override):

    {"tinycompress": "<version>", "steps": ["compress", "qat"],
     "pruned": {"fc1": 0.08, ...},      # layer -> fraction of its weights kept (pruning)
     "shared": {"fc1": 7, ...},         # layer -> cluster index bits (weight sharing)
     "grid": "int8" | "none" | null,    # shared values on each layer's per-tensor int8 grid
     "qat_per_channel": true | false | null}   # the weight scales QAT simulated

Keras ignores members it does not know; a model saved by anything else has no marker. A step
applied to a model that has one adds to it (qat after compress keeps the pruning and sharing).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

MEMBER = "tinycompress.json"


def empty() -> dict:
    from .. import __version__

    return {"tinycompress": __version__, "steps": [], "pruned": {}, "shared": {}, "grid": None,
            "qat_per_channel": None}


def read(path: Path) -> dict | None:
    """The marker of a .keras file, or None (another kind of file, or no marker)."""
    path = Path(path)
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            if MEMBER not in zf.namelist():
                return None
            data = json.loads(zf.read(MEMBER))
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return {**empty(), **data} if isinstance(data, dict) else None


def write(path: Path, marker: dict) -> None:
    """Add the marker to a .keras file just saved (replacing none: Keras writes none)."""
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo(MEMBER, date_time=(1980, 1, 1, 0, 0, 0))
        zf.writestr(info, json.dumps(marker, indent=1, sort_keys=True))


def step(previous: dict | None, name: str, **fields) -> dict:
    """`previous` (a marker or None) with one more step and its fields merged in."""
    m = {**empty(), **(previous or {})}
    m["steps"] = [*m["steps"], name]
    for key, value in fields.items():
        m[key] = {**m[key], **value} if isinstance(m.get(key), dict) else value
    return m


def compile_defaults(marker: dict | None) -> dict:
    """What compile chooses for a marked model: `weights` auto when it was pruned or weight
    shared; `per_channel` as QAT simulated it, else False when its shared values lie on a
    per-tensor int8 grid. Only the keys recognised are present."""
    if not marker:
        return {}
    out = {}
    if marker.get("pruned") or marker.get("shared"):
        out["weights"] = "auto"
    if marker.get("qat_per_channel") is not None:
        out["per_channel"] = bool(marker["qat_per_channel"])
    elif marker.get("shared") and marker.get("grid") == "int8":
        out["per_channel"] = False
    return out
