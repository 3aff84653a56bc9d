"""verify: run the generated C on test vectors and compare every output byte with the TFLite
reference interpreter (reference kernels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import vectors as vec
from .compiler import read_manifest
from .datasets import load_npz
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


def verify(outdir: Path, target: str = "host", count: int = 100, data: Path | None = None,
           board: str | None = None, sanitize: bool = False) -> dict:
    outdir = Path(outdir)
    if target not in TARGETS:
        raise UserError(f"unknown target '{target}': choose one of {', '.join(TARGETS)}")
    manifest = read_manifest(outdir)
    tflite_path = outdir / manifest["tflite"]
    if not tflite_path.exists():
        raise UserError(f"{tflite_path} is missing: compile again")
    if count < 0:
        raise UserError(f"--vectors {count} is negative: give a count of at least 1")
    x, y = (load_npz(data) if data is not None else (None, None))
    inputs = vec.draw(manifest, outdir, count, x)
    if len(inputs) == 0:
        raise UserError("no test vectors: give --vectors N with N >= 1")
    ref = Reference(tflite_path.read_bytes())
    expected = ref.run_batch(inputs)

    # What the reference's copy of the model normalised (reference.py; empty: nothing).
    report: dict = {"target": target, "vectors": int(len(inputs)),
                    "reference_normalised": ref.normalised}
    if target == "host":
        from .targets import host

        got = host.run(outdir, manifest, inputs, sanitize=sanitize)
    else:
        if board is None:
            raise UserError("--target qemu needs --board B (see 'tinycompress boards')")
        from .boards import get_board
        from .targets import qemu

        b = get_board(board)
        result = qemu.run(outdir, b, inputs)
        got = result.outputs
        report.update(
            board=b.name,
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
        if compare(got, expected)["bit_exact"]:
            qemu.record_measurement(outdir, b.name, result)
    report.update(compare(got, expected))
    if y is not None:
        labels = np.asarray(y).reshape(-1)[: len(inputs)]
        report["accuracy"] = float(np.mean(np.argmax(got, axis=1) == labels))
        report["reference_accuracy"] = float(np.mean(np.argmax(expected, axis=1) == labels))
    return report
