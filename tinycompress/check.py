"""Does a compiled model fit a board? Measured sizes and instruction counts against capacity/budgets.

Figures come from OUTDIR/manifest.json, key "measurements" (written by the QEMU run, see
targets/qemu.py `record_measurement`):

    "measurements": {
      "<board name>": {
        "machine": "mps2-an386",            QEMU machine it ran on
        "cflags": [...],                    the board's core flags + -O2 -std=c99 ...
        "vectors": 20,                      test vectors run
        "instructions_per_inference": 4375, worst case over the vectors
        "instructions_min": 4375,
        "instructions_method": "exact",     "exact" (TCG plugin) or "systick"
        "instructions_resolution": 1,       instructions per count unit (SysTick: 1e9/Hz)
        "layer_instructions": [3413, 946],  per layer index
        "flash_bytes": 3036,                whole image (model + startup + harness), no vectors
        "static_ram_bytes": 324,            .data + .bss of the whole image
        "stack_bytes": 124,                 stack high-water mark (painted stack)
        "ram_bytes": 448,                   static_ram_bytes + stack_bytes
        "model_flash_bytes": 1008,          the model's own objects (from the link map)
        "model_static_ram_bytes": 16
      }
    }

When the board has no entry, `check` measures it by running QEMU once and records the result.
Latency is an estimate: instructions x the board's CPI assumption / clock (QEMU has no cycles).

When the image cannot be linked for the QEMU machine (the model is too big for its memory), `check`
falls back to the compile-time figures of the model's own objects for the board's core (the
manifest's flash_bytes/ram_bytes when they were measured for the same core flags, else the objects
compiled and measured now, as compiler.code_size does), with "source": "compile-time" and the
linker's reason in "link_error"; it then has no instruction count, so no latency, and never says
the model fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .boards import Board, get_board, qemu_board
from .errors import UserError
from .vectors import random_rows


@dataclass
class CheckItem:
    name: str  # "flash", "ram", "latency"
    measured: float
    limit: float
    limit_source: str  # "board" or "budget"
    unit: str  # "bytes" or "ms"
    estimate: bool = False

    @property
    def over(self) -> bool:
        return self.measured > self.limit

    @property
    def margin(self) -> float:
        """limit - measured: negative when over."""
        return self.limit - self.measured

    def to_dict(self) -> dict:
        return {"name": self.name, "measured": self.measured, "limit": self.limit,
                "limit_source": self.limit_source, "unit": self.unit, "over": self.over,
                "margin": self.margin, "estimate": self.estimate}


@dataclass
class CheckReport:
    board: Board
    measurement: dict
    items: list[CheckItem]
    latency_ms: float | None  # estimate; None when the image could not be run
    measured_now: bool  # True when check ran QEMU because nothing was recorded
    notes: list[str] = field(default_factory=list)

    @property
    def link_error(self) -> str | None:
        """Why the image could not be linked for the QEMU machine (compile-time figures)."""
        return self.measurement.get("link_error")

    @property
    def ok(self) -> bool:
        return not any(i.over for i in self.items) and self.link_error is None

    def to_dict(self) -> dict:
        return {"board": self.board.name, "ok": self.ok,
                "checks": [i.to_dict() for i in self.items],
                "latency_ms_estimate": self.latency_ms,
                "latency_basis": {"instructions":
                                  self.measurement.get("instructions_per_inference"),
                                  "cpi": self.board.cpi, "clock_hz": self.board.clock_hz,
                                  "cpi_source": self.board.cpi_source},
                "measured_now": self.measured_now, "measurement": self.measurement,
                "source": self.measurement.get("source", "qemu"), "link_error": self.link_error,
                "notes": self.notes}


def estimate_latency_ms(instructions: int, board: Board) -> float:
    """instructions x CPI / clock, in milliseconds. An estimate: QEMU counts no cycles."""
    return instructions * board.cpi / board.clock_hz * 1e3


def measurement_for(outdir: Path, board: Board, *, measure: bool = True,
                    workdir: Path | None = None) -> tuple[dict, bool]:
    """(measurement dict, measured_now). Runs QEMU and records the result if none is stored;
    the compile-time figures when the image does not fit the QEMU machine."""
    from .targets import qemu
    from .targets.cortexm import DoesNotFit

    manifest = qemu.load_manifest(outdir)
    m = (manifest.get(qemu.MEASUREMENTS_KEY) or {}).get(board.name)
    if m is not None:
        missing = [k for k in ("flash_bytes", "ram_bytes", "instructions_per_inference")
                   if k not in m]
        if missing:
            raise UserError(f"manifest.json measurements for {board.name} lack "
                            f"{', '.join(missing)}; rerun 'tinycompress verify --target qemu'")
        return m, False
    if not measure:
        raise UserError(f"no measurements for {board.name} in {outdir}/manifest.json; run "
                        f"'tinycompress verify {outdir} --target qemu --board {board.name}'")
    # Instruction counts of int8 kernels barely depend on the data: a few fixed vectors do.
    rng = np.random.default_rng(0)
    inputs = [random_rows(spec, 2, rng) for spec in manifest["inputs"]]
    try:
        result = qemu.run(outdir, board, inputs, workdir=workdir)
    except DoesNotFit as e:
        return compile_time_figures(outdir, manifest, board, _linker_reason(str(e))), False
    qemu.record_measurement(outdir, board.name, result)
    return result.to_measurement(), True


def _linker_reason(text: str) -> str:
    """The linker's lines that say what overflowed, without paths ('region `CODE' overflowed
    by 49812 bytes')."""
    found = [line.split(": ", 1)[-1].strip() for line in text.splitlines()
             if "overflowed by" in line or "minimum stack" in line]
    return "; ".join(dict.fromkeys(found)) or text.splitlines()[0]


def compile_time_figures(outdir: Path, manifest: dict, board: Board, link_error: str) -> dict:
    """Flash and static RAM of the model's own objects for the board's core: the manifest's when
    they were measured for the same core flags, else compiled and measured now."""
    from .compiler import code_size
    from .targets.cortexm import core_flags

    compiled_for = manifest.get("board")
    same_core = (compiled_for is not None
                 and core_flags(get_board(compiled_for)) == core_flags(board))
    if same_core and str(manifest.get("flash_source", "")).startswith("measured") \
            and "ram_bytes" in manifest:
        sizes = {k: manifest[k] for k in ("flash_bytes", "ram_bytes", "flash_source")}
    else:
        files = {}
        for fname in list(manifest["sources"]) + list(manifest.get("headers") or []):
            path = Path(outdir) / fname
            if not path.is_file():
                raise UserError(f"{path} listed in manifest.json does not exist; recompile")
            files[fname] = path.read_bytes()
        sizes = code_size(files, manifest, board.name)
    return {"source": "compile-time", "machine": qemu_board(board).name,
            "flash_bytes": int(sizes["flash_bytes"]), "ram_bytes": int(sizes["ram_bytes"]),
            "flash_source": sizes["flash_source"], "link_error": link_error,
            "instructions_per_inference": None}


def _notes(m: dict, board: Board) -> list[str]:
    if m.get("source") == "compile-time":
        return [
            f"the image could not be linked for QEMU {m['machine']} ({m['link_error']}), so it "
            "was not run: figures are the model's own objects at compile time "
            f"({m['flash_source']})",
            "flash = the model's code + weights; RAM = its arena and static data; the "
            "firmware around it and the stack come on top",
            "latency: not measured (no instruction count without a run)",
        ]
    instructions = int(m["instructions_per_inference"])
    return [
        "flash = whole image (model, startup, harness; ~2 KB of firmware); "
        "RAM = .data + .bss + stack high-water mark",
        f"latency is an estimate: {instructions:,} instructions "
        f"({m.get('instructions_method', '?')}) x CPI {board.cpi:g} / "
        f"{board.clock_hz / 1e6:g} MHz; CPI: {board.cpi_source}",
    ]


def check(outdir: Path | str, board: Board | str, *, max_flash: int | None = None,
          max_ram: int | None = None, max_latency_ms: float | None = None,
          measure: bool = True) -> CheckReport:
    outdir = Path(outdir)
    board = get_board(board) if isinstance(board, str) else board
    m, measured_now = measurement_for(outdir, board, measure=measure)
    flash, ram = int(m["flash_bytes"]), int(m["ram_bytes"])
    instructions = m.get("instructions_per_inference")
    latency = None if instructions is None else estimate_latency_ms(int(instructions), board)
    items = [
        CheckItem("flash", flash, board.flash_bytes, "board", "bytes"),
        CheckItem("ram", ram, board.ram_bytes, "board", "bytes"),
    ]
    if max_flash is not None:
        items.append(CheckItem("flash", flash, max_flash, "budget", "bytes"))
    if max_ram is not None:
        items.append(CheckItem("ram", ram, max_ram, "budget", "bytes"))
    notes = _notes(m, board)
    if max_latency_ms is not None:
        if latency is None:
            notes.append(f"--max-latency-ms {max_latency_ms:g} not checked: no latency")
        else:
            items.append(CheckItem("latency", latency, max_latency_ms, "budget", "ms",
                                   estimate=True))
    return CheckReport(board, m, items, latency, measured_now, notes)


def human_bytes(n: float) -> str:
    n = float(n)
    if abs(n) >= 1 << 20:
        return f"{n / (1 << 20):.2f} M"
    if abs(n) >= 1 << 10:
        return f"{n / (1 << 10):.1f} K"
    return f"{n:.0f} B"
