"""The board budget bars of a report: what `check` says (flash, RAM and, with instructions and a
latency budget, latency) when a QEMU run measured the board; otherwise the manifest's
compile-time flash and RAM of the model's own objects, said as such. Never runs QEMU."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..boards import Board, get_board
from ..check import CheckItem, check
from .data import MEASUREMENTS_KEY


@dataclass
class Budget:
    board: Board
    items: list[CheckItem]
    source: str  # "qemu" (measured image) or "compile-time" (the model's objects)
    latency_ms: float | None = None
    notes: list[str] = field(default_factory=list)


def budget(outdir: Path, manifest: dict, board: str | None,
           max_latency_ms: float | None = None) -> Budget | None:
    """The budget against `board`, or the board OUTDIR was compiled for; None without either."""
    name = board or manifest.get("board")
    if name is None:
        return None
    b = get_board(name)
    if b.name in (manifest.get(MEASUREMENTS_KEY) or {}):
        r = check(outdir, b, max_latency_ms=max_latency_ms, measure=False)
        source = r.measurement.get("source", "qemu")
        return Budget(b, r.items, source, r.latency_ms, list(r.notes))
    items = [CheckItem("flash", int(manifest["flash_bytes"]), b.flash_bytes, "board", "bytes"),
             CheckItem("ram", int(manifest["ram_bytes"]), b.ram_bytes, "board", "bytes")]
    notes = [f"not measured on {b.name}: compile-time figures of the model's own objects "
             f"({manifest.get('flash_source', 'unknown source')}); the firmware around it and "
             f"the stack come on top. Run 'tinycompress verify OUTDIR --target qemu --board "
             f"{b.name}' to measure the image and its instructions"]
    if max_latency_ms is not None:
        notes.append(f"latency budget {max_latency_ms:g} ms not checked: no instruction count")
    return Budget(b, items, "compile-time", None, notes)
