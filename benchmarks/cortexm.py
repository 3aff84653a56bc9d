"""Benchmark: per model and Cortex-M core, MACs, instructions per inference (exact counts under
QEMU), MACs per instruction, flash, static RAM and stack of the generated C; beside them the same
model's INT8 .tflite size and its arena under the TFLM interpreter (tflite-micro, host).

    python benchmarks/cortexm.py [--models ad,kws,ic,vww] [--boards mps2-an386,...] [--portable]
                                 [--json F]

Each model is compiled for each board (`compile --board`), so the board's per-core kernels
(templates/cores/<family>/) are measured; `--portable` compiles the portable C once and runs it
on every board (the baseline). Instruction counts under QEMU are deterministic, so one vector
per run suffices for the counts; each run also checks the outputs bit-exactly against the
reference interpreter."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from _table import finish, print_table, run, yes_no

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MODELS = {
    "ad": "ad01_int8.tflite",
    "kws": "kws_ref_model.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "vww": "vww_96_int8.tflite",
}
BOARDS = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]


def tflm_arena_bytes(tflite: bytes) -> int | None:
    """Arena TFLM's interpreter allocates for the model (its RecordingMicroAllocator's total)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    with tempfile.TemporaryFile(mode="w+b") as cap:
        sys.stderr.flush()
        saved = os.dup(2)  # TFLM's MicroPrintf writes to stderr
        os.dup2(cap.fileno(), 2)
        try:
            interp = runtime.Interpreter.from_bytes(tflite)
            interp.print_allocations()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        cap.seek(0)
        text = cap.read().decode(errors="replace")
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    return int(m.group(1)) if m else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--vectors", type=int, default=2)
    ap.add_argument("--portable", action="store_true",
                    help="Measure the portable kernels (no --board at compile time).")
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON here.")
    args = ap.parse_args(argv)

    from tinycompress.boards import get_board
    from tinycompress.compiler import compile_model, read_manifest
    from tinycompress.reference import Reference
    from tinycompress.targets import qemu
    from tinycompress.vectors import draw

    rows = []
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        for key in args.models.split(","):
            path = MLPERF / MODELS[key]
            tflite = path.read_bytes()
            arena_tflm = tflm_arena_bytes(tflite)
            x = expected = None
            for bname in args.boards.split(","):
                board = get_board(bname)
                out = Path(tmp) / (key if args.portable else f"{key}-{board.name}")
                if not out.exists():
                    compile_model(path, out, name=key,
                                  board=None if args.portable else board.name)
                manifest = read_manifest(out)
                if x is None:
                    x = draw(manifest, out, args.vectors)
                    expected = Reference(tflite).run_batch(x)
                r = qemu.run(out, board, x)
                exact = bool(np.array_equal(r.outputs, expected))
                ipi = int(r.instructions_per_inference)
                rows.append({
                    "model": key, "board": board.name, "core": board.core,
                    "macs": manifest["macs"], "instructions": ipi,
                    "macs_per_instruction": round(manifest["macs"] / ipi, 3),
                    "flash_bytes": r.model_flash_bytes, "static_ram_bytes": r.model_static_ram_bytes,
                    "stack_bytes": r.stack_bytes, "bit_exact": exact,
                    "tflite_bytes": len(tflite), "tflm_arena_bytes": arena_tflm,
                    "count": r.count_method,
                    "kernels": "portable" if args.portable else "board",
                    "layer_instructions": [int(v) for v in r.layer_instructions],
                })
                print(f"  {key} on {board.name}: {ipi:,} instructions, bit-exact {exact}",
                      file=sys.stderr)

    print_rows(rows)
    return finish(rows, args.json)


def print_rows(rows: list[dict]) -> None:
    print_table(["model", "core", "MACs", "instr/inf", "MACs/instr", "flash B", "static RAM B",
                 "stack B", ".tflite B", "TFLM arena B", "bit-exact"],
                ([r["model"], r["core"], f"{r['macs']:,}", f"{r['instructions']:,}",
                  r["macs_per_instruction"], f"{r['flash_bytes']:,}",
                  f"{r['static_ram_bytes']:,}", f"{r['stack_bytes']:,}",
                  f"{r['tflite_bytes']:,}",
                  r["tflm_arena_bytes"] if r["tflm_arena_bytes"] is not None else "n/a",
                  yes_no(r["bit_exact"])] for r in rows))


if __name__ == "__main__":
    run(main)
