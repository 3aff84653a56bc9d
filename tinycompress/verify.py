"""verify: run the generated C on test vectors and compare every output byte with the TFLite
reference interpreter (reference kernels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import vectors as vec
from .compiler import read_manifest
from .datasets import load_inputs
from .errors import UserError
from .reference import Reference

TARGETS = ("host", "qemu")


def compare(got: np.ndarray, expected: np.ndarray) -> dict:
    """Element-wise comparison of the raw bits (float outputs too: bit-exact means the bits)."""
    if got.dtype.kind == "f":
        bits = np.dtype(f"u{got.dtype.itemsize}")
        bad = np.argwhere(got.view(bits) != expected.astype(got.dtype).view(bits))
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        max_diff = float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0))
    else:
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
        bad = np.argwhere(diff != 0)
        max_diff = int(diff.max(initial=0))
    report = {
        "bit_exact": bool(bad.size == 0),
        "mismatches": int(len(bad)),
        "mismatched_vectors": int(len(np.unique(bad[:, 0]))) if bad.size else 0,
        "max_abs_diff": max_diff,
    }
    if bad.size:
        v, i = (int(a) for a in bad[0])
        report["first_mismatch"] = {"vector": v, "index": i, "got": got[v, i].item(),
                                    "expected": expected[v, i].item()}
    return report


def compare_outputs(got: list[np.ndarray], expected: list[np.ndarray], specs: list[dict]) -> dict:
    """`compare` for every model output: the report of each under "outputs" (with its name and
    shape), and the totals over all of them at the top (first_mismatch names its output)."""
    per = [dict(name=spec["name"], shape=list(spec["shape"]), **compare(g, e))
           for g, e, spec in zip(got, expected, specs)]
    bad_vectors = set()
    for g, e in zip(got, expected):
        diff = g.view(f"u{g.dtype.itemsize}") != e.astype(g.dtype).view(f"u{g.dtype.itemsize}")
        bad_vectors.update(np.flatnonzero(diff.any(axis=1)).tolist())
    report = {
        "bit_exact": all(r["bit_exact"] for r in per),
        "mismatches": sum(r["mismatches"] for r in per),
        "mismatched_vectors": len(bad_vectors),
        "max_abs_diff": max(r["max_abs_diff"] for r in per),
        "outputs": per,
    }
    first = next(((k, r) for k, r in enumerate(per) if "first_mismatch" in r), None)
    if first is not None:
        report["first_mismatch"] = dict(output=first[0], **first[1]["first_mismatch"])
    return report


def _qemu_report(result, board, manifest: dict) -> dict:
    return dict(
        board=board.name,
        machine=result.machine,
        instructions_per_inference=int(result.instructions_per_inference),
        instructions_method=result.count_method,
        layer_instructions=[int(v) for v in result.layer_instructions],
        layers=[{"name": lay.get("name", ""), "op": lay.get("op", ""),
                 "weight_format": lay.get("weight_format", "dense"),
                 "weights_bytes": int(lay.get("weights_bytes", 0)), "instructions": int(n)}
                for lay, n in zip(manifest["layers"], result.layer_instructions)],
        flash_bytes=int(result.flash_bytes),
        model_flash_bytes=int(result.model_flash_bytes),
        static_ram_bytes=int(result.static_ram_bytes),
        stack_bytes=int(result.stack_bytes),
    )


def verify(outdir: Path, target: str = "host", count: int = 100, data: Path | None = None,
           board: str | None = None, sanitize: bool = False) -> dict:
    """Every output of the generated C in OUTDIR against the reference, on `count` vectors for
    every input; the report has the totals and, under "outputs", each output's comparison."""
    outdir = Path(outdir)
    if target not in TARGETS:
        raise UserError(f"unknown target '{target}': choose one of {', '.join(TARGETS)}")
    manifest = read_manifest(outdir)
    tflite_path = outdir / manifest["tflite"]
    if not tflite_path.exists():
        raise UserError(f"{tflite_path} is missing: compile again")
    if count < 0:
        raise UserError(f"--vectors {count} is negative: give a count of at least 1")
    if target == "qemu" and board is None:
        raise UserError("--target qemu needs --board B (see 'tinycompress boards')")
    xs, y = (load_inputs(data, len(manifest["inputs"])) if data is not None else (None, None))
    inputs = vec.draw_all(manifest, outdir, count, xs)
    if len(inputs[0]) == 0:
        raise UserError("no test vectors: give --vectors N with N >= 1")
    ref = Reference(tflite_path.read_bytes())
    expected = ref.run_all(inputs)

    # What the reference's copy of the model normalised (reference.py; empty: nothing).
    report: dict = {"target": target, "vectors": int(len(inputs[0])),
                    "reference_normalised": ref.normalised}
    if target == "host":
        from .targets import host

        got = host.run_multi(outdir, manifest, inputs, sanitize=sanitize)
        report.update(compare_outputs(got, expected, manifest["outputs"]))
    else:
        from .boards import get_board
        from .targets import qemu

        b = get_board(board)
        result = qemu.run(outdir, b, inputs)
        got = result.all_outputs
        report.update(_qemu_report(result, b, manifest))
        report.update(compare_outputs(got, expected, manifest["outputs"]))
        if report["bit_exact"]:
            qemu.record_measurement(outdir, b.name, result)
    if y is not None:
        labels = np.asarray(y).reshape(-1)[: len(inputs[0])]
        report["accuracy"] = float(np.mean(np.argmax(got[0], axis=1) == labels))
        report["reference_accuracy"] = float(np.mean(np.argmax(expected[0], axis=1) == labels))
    return report
