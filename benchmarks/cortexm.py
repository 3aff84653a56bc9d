"""Benchmark: per model and Cortex-M core, MACs, instructions per inference (exact counts under
QEMU), MACs per instruction, flash, static RAM and stack of the generated C; beside them the same
model's INT8 .tflite size and its arena under the TFLM interpreter (tflite-micro, host).

    python benchmarks/cortexm.py [--models ad,kws,ic,vww] [--boards mps2-an386,...] [--portable]
                                 [--optimize balanced|speed|size] [--layers] [--json F]
                                 [--record F | --check F]

Each model is compiled for each board (`compile --board`), so the board's per-core kernels
(templates/cores/<family>/) are measured. Cortex-M0 is mps2-an385-m0: the M0 build
(-mcpu=cortex-m0, Armv6-M, checked instruction by instruction) run on the an385 because the only
M0 machine (microbit) has 16 KB RAM, too little for these models; `--portable` compiles the portable C once and runs it
on every board (the baseline). Instruction counts under QEMU are deterministic, so one vector
per run suffices for the counts; each run also checks the outputs bit-exactly against the
reference interpreter.

Beside each Cortex-M4 count stands TFLM + CMSIS-NN's on the same QEMU machine
(shared/baselines/tflm-cmsis-nn-m4.json) and the ratio ours / theirs; `--layers` adds a table per
model and core: every layer's MACs, instructions, instructions per MAC and the baseline
operator's. `--optimize` picks the DSP cores' blocked kernels as the compile option of that name
does (int16 weights for speed, int8 for size, per layer for balanced: tinycompress/ops/_dsp.py).
`--record F` writes the instruction counts per model and board (the committed
regression record, benchmarks/records/); `--check F` fails (exit 3) when a count rose by more
than 2% against it (counts are exact, so this is not a timing test)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from _table import finish, print_table, run, yes_no

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "benchmarks" / "records"
TOLERANCE = 0.02  # a count may rise this much against the record before --check fails


def shared_dir() -> Path:
    """The project's shared/ directory (models, baselines): $TC_SHARED, else the nearest
    ancestor's shared/ of this checkout (a git worktree sits one level deeper)."""
    env = os.environ.get("TC_SHARED")
    if env:
        return Path(env)
    for parent in ROOT.parents:
        if (parent / "shared" / "models").is_dir():
            return parent / "shared"
    return ROOT.parent / "shared"


MLPERF = shared_dir() / "models" / "mlperf-tiny"
BASELINE = shared_dir() / "baselines" / "tflm-cmsis-nn-m4.json"
MODELS = {
    "ad": "ad01_int8.tflite",
    "kws": "kws_ref_model.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "vww": "vww_96_int8.tflite",
}
BOARDS = ["mps2-an385-m0", "mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]


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


def baseline() -> dict:
    """Per .tflite file name: TFLM + CMSIS-NN's instructions on Cortex-M4F and its per-operator
    list (RESHAPE dropped: our compiler makes it a view); {} without the baseline file."""
    try:
        models = json.loads(BASELINE.read_text())["models"]
    except (OSError, ValueError, KeyError):
        return {}
    return {name: {"instructions": m["cmsis_nn"]["instructions"],
                   "per_op": [o for o in m["cmsis_nn"]["per_op"] if o["op"] != "RESHAPE"]}
            for name, m in models.items()}


@contextlib.contextmanager
def optimizing(mode: str):
    """Compiles inside set the lowering Context's `optimize` to `mode` (what the compile option
    --optimize sets; read by tinycompress/ops/_dsp.py wants_w16)."""
    from tinycompress import compiler

    plain = compiler.context_for

    def context_for(*args, **kwargs):
        ctx = plain(*args, **kwargs)
        ctx.optimize = mode
        return ctx
    compiler.context_for = context_for
    try:
        yield
    finally:
        compiler.context_for = plain


def per_layer_baseline(ref: dict | None, layers: list[dict]) -> list[dict | None]:
    """TFLM's per-operator figures by our layers, when its operators are ours in order: a fused
    layer (the manifest's `fuses`) takes the sum of the operators it runs."""
    groups = [L.get("fuses") or [L["op"]] for L in layers]
    if not ref or [o["op"] for o in ref["per_op"]] != [k for grp in groups for k in grp]:
        return [None] * len(layers)
    ops = iter(ref["per_op"])
    return [{"insns": sum(next(ops)["insns"] for _ in grp)} for grp in groups]


def measure(key: str, board_name: str, out: Path, vectors: int = 1, portable: bool = False,
            base: dict | None = None, optimize: str = "balanced") -> dict:
    """Compiles MLPerf model `key` for `board_name` into `out` (unless there), runs it under
    QEMU and returns its row: counts, sizes, bit-exactness, per-layer figures, the baseline."""
    from tinycompress.boards import get_board
    from tinycompress.compiler import compile_model, read_manifest
    from tinycompress.reference import Reference
    from tinycompress.targets import qemu
    from tinycompress.vectors import draw

    path = MLPERF / MODELS[key]
    board = get_board(board_name)
    if not out.exists():
        with optimizing(optimize):
            compile_model(path, out, name=key, board=None if portable else board.name)
    manifest = read_manifest(out)
    x = draw(manifest, out, vectors)
    expected = Reference(path.read_bytes()).run_batch(x)
    r = qemu.run(out, board, x)
    ipi = int(r.instructions_per_inference)
    ref = (base or {}).get(MODELS[key]) if board.core == "cortex-m4" else None
    layers = manifest.get("layers") or []
    ref_ops = per_layer_baseline(ref, layers)
    return {
        "model": key, "board": board.name, "core": board.core, "machine": r.machine,
        "machine_note": r.note, "optimize": optimize,
        "macs": manifest["macs"], "instructions": ipi,
        "macs_per_instruction": round(manifest["macs"] / ipi, 3),
        "tflm_cmsis_nn_instructions": ref["instructions"] if ref else None,
        "flash_bytes": r.model_flash_bytes, "static_ram_bytes": r.model_static_ram_bytes,
        "stack_bytes": r.stack_bytes, "bit_exact": bool(np.array_equal(r.outputs, expected)),
        "tflite_bytes": len(path.read_bytes()), "count": r.count_method,
        "kernels": "portable" if portable else "board",
        "layers": [{"op": "+".join(L.get("fuses") or [L["op"]]), "variant": L.get("variant", ""), "macs": L.get("macs", 0),
                    "instructions": int(n),
                    "tflm_cmsis_nn_instructions": o["insns"] if o else None}
                   for L, n, o in zip(layers, r.layer_instructions, ref_ops)],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--vectors", type=int, default=2)
    ap.add_argument("--portable", action="store_true",
                    help="Measure the portable kernels (no --board at compile time).")
    ap.add_argument("--optimize", choices=["balanced", "speed", "size"], default="balanced",
                    help="The DSP kernels' weight width, as the compile option (default balanced).")
    ap.add_argument("--layers", action="store_true", help="Also print a per-layer table.")
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON here.")
    ap.add_argument("--record", type=Path, help="Write the instruction counts here.")
    ap.add_argument("--check", type=Path, help="Fail if a count rose >2%% against this record.")
    args = ap.parse_args(argv)

    base = baseline()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        for key in args.models.split(","):
            arena_tflm = tflm_arena_bytes((MLPERF / MODELS[key]).read_bytes())
            for bname in args.boards.split(","):
                out = Path(tmp) / (key if args.portable else f"{key}-{bname}")
                row = measure(key, bname, out, args.vectors, args.portable, base, args.optimize)
                row["tflm_arena_bytes"] = arena_tflm
                rows.append(row)
                print(f"  {key} on {bname}: {row['instructions']:,} instructions, "
                      f"bit-exact {row['bit_exact']}", file=sys.stderr)

    print_rows(rows)
    for note in dict.fromkeys(r["machine_note"] for r in rows if r.get("machine_note")):
        print(f"\nNote: {note}.")
    if args.layers:
        for r in rows:
            print_layers(r)
    if args.record:
        old = json.loads(args.record.read_text()) if args.record.exists() else {}
        args.record.write_text(json.dumps(record_of(rows, old), indent=1, sort_keys=True) + "\n")
    status = finish(rows, args.json)
    if args.check:
        rises = check_record(rows, json.loads(args.check.read_text()))
        for msg in rises:
            print(f"REGRESSION: {msg}", file=sys.stderr)
        status = status or (3 if rises else 0)
    return status


def record_key(r: dict) -> str:
    """A row's key under its model in the record: the board, with " --optimize M" unless
    balanced (the default)."""
    mode = r.get("optimize", "balanced")
    return r["board"] if mode == "balanced" else f"{r['board']} --optimize {mode}"


def record_of(rows: list[dict], record: dict | None = None) -> dict:
    """{model: {board: instructions}}: what benchmarks/records/ keeps; `record`'s other entries
    are kept (a run with one --optimize updates only its own counts)."""
    rec: dict = json.loads(json.dumps(record or {}))
    for r in rows:
        rec.setdefault(r["model"], {})[record_key(r)] = r["instructions"]
    return rec


def check_record(rows: list[dict], record: dict, tolerance: float = TOLERANCE) -> list[str]:
    """One message per row whose count exceeds the record's by more than `tolerance`."""
    rises = []
    for r in rows:
        was = record.get(r["model"], {}).get(record_key(r))
        if was is not None and r["instructions"] > was * (1 + tolerance):
            rises.append(f"{r['model']} on {record_key(r)}: {r['instructions']:,} instructions, "
                         f"recorded {was:,} (+{r['instructions'] / was - 1:.1%}, more than "
                         f"{tolerance:.0%})")
    return rises


def ratio(ours: int, theirs: int | None) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


def core_cell(r: dict) -> str:
    """The core, and the machine it ran on when that has another core (see the note)."""
    machine = r.get("machine", r["board"])
    return r["core"] if machine == r["board"] else f"{r['core']} (on {machine})"


def print_rows(rows: list[dict]) -> None:
    print_table(["model", "core", "MACs", "instr/inf", "instr/MAC", "TFLM+CMSIS-NN instr",
                 "ratio", "flash B", "static RAM B", "stack B", ".tflite B", "TFLM arena B",
                 "bit-exact"],
                ([r["model"], core_cell(r), f"{r['macs']:,}", f"{r['instructions']:,}",
                  f"{r['instructions'] / r['macs']:.2f}",
                  f"{r['tflm_cmsis_nn_instructions']:,}" if r["tflm_cmsis_nn_instructions"]
                  else "n/a", ratio(r["instructions"], r["tflm_cmsis_nn_instructions"]),
                  f"{r['flash_bytes']:,}", f"{r['static_ram_bytes']:,}", f"{r['stack_bytes']:,}",
                  f"{r['tflite_bytes']:,}",
                  r["tflm_arena_bytes"] if r.get("tflm_arena_bytes") is not None else "n/a",
                  yes_no(r["bit_exact"])] for r in rows))


def print_layers(r: dict) -> None:
    """Per layer of one row: op, kernel variant, MACs, instructions, per MAC, the baseline's."""
    where = r["board"] if r.get("machine", r["board"]) == r["board"] else \
        f"{r['board']}: {r['core']} code on the {r['machine']}"
    print(f"\n{r['model']} on {r['core']} ({where}), per layer:\n")
    print_table(["#", "op", "kernel", "MACs", "instr", "instr/MAC", "TFLM+CMSIS-NN instr",
                 "ratio"],
                ([i, L["op"], L["variant"] or "-", f"{L['macs']:,}", f"{L['instructions']:,}",
                  f"{L['instructions'] / L['macs']:.2f}" if L["macs"] else "-",
                  f"{L['tflm_cmsis_nn_instructions']:,}" if L["tflm_cmsis_nn_instructions"]
                  else "n/a", ratio(L["instructions"], L["tflm_cmsis_nn_instructions"])]
                 for i, L in enumerate(r["layers"])))


if __name__ == "__main__":
    run(main)
