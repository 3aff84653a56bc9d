"""Benchmark: re-measure the cost model's constants (tinycompress/ops/cost.py COEFFS).

    python benchmarks/cost_fit.py [--boards mps2-an385,mps2-an386,mps3-an547]
                                  [--ops fc,conv,dw]
                                  [--formats dense,lut,sparse,huffman,int4,csr,hcsr,hcsr+raw]
                                  [--optimize balanced,size,speed] [--json F] [--reuse F]
                                  [--write]

Compiles single-layer FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D models of several shapes,
sparsities and cluster counts in each weight format for each board's core (the core's kernels,
as `compile --board` emits them; int4 on the same layers with their weights clipped to -8..7;
csr and hcsr for FULLY_CONNECTED only), runs them under QEMU (exact instruction counts, bit-exact
against the reference interpreter), fits per (operator, kernel, core family) the linear model's
coefficients by least squares on relative error (a coefficient that comes out negative is dropped
and the rest refitted), prints the measured and estimated instructions per layer and the table,
and with --write replaces the fitted entries of COEFFS in tinycompress/ops/cost.py.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from _table import finish, print_table, run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's small TFLite model builders

BOARDS = {"portable": "mps2-an385", "dsp": "mps2-an386", "mve": "mps3-an547"}


def cases(nibbles: bool = False) -> dict[str, list[tuple[str, bytes]]]:
    """Per operator: (title, TFLite bytes) of layers spanning the model's terms; `nibbles`: the
    weights clipped to -8..7 (what the int4 format stores)."""
    from test_weight_formats import conv, dw, fc
    from test_weight_formats import structured as spread

    def structured(*args):
        w = spread(*args)
        return np.clip(w, -8, 7).astype(w.dtype) if nibbles else w

    def cw(cout, k, cin, sp, cl, seed=0):
        return structured(cout, k * k * cin, sp, cl, seed).reshape(cout, k, k, cin)

    fcs = [(u, d, sp, cl) for u, d, sp, cl in
           ((16, 64, 0.5, 16), (64, 256, 0.9, 16), (32, 400, 0.92, 64), (100, 48, 0.0, 8),
            (8, 784, 0.95, 32), (48, 128, 0.7, 4),
            (100, 784, 0.92, 100), (100, 300, 0.92, 100))]  # LeNet-300-100's fc1 and fc2, compressed
    convs = [(h, cin, cout, k, sp, cl, pad) for h, cin, cout, k, sp, cl, pad in
             ((8, 16, 16, 3, 0.8, 16, "SAME"), (6, 4, 8, 3, 0.5, 8, "SAME"),
              (12, 8, 12, 5, 0.9, 15, "VALID"), (10, 3, 8, 3, 0.0, 16, "SAME"),
              (8, 16, 8, 1, 0.6, 16, "SAME"), (7, 6, 10, 3, 0.3, 32, "VALID"),
              (6, 8, 24, 1, 0.2, 8, "SAME"))]
    dws = [(h, c, k, sp, cl, pad) for h, c, k, sp, cl, pad in
           ((16, 16, 3, 0.5, 16, "SAME"), (12, 8, 3, 0.8, 16, "SAME"), (10, 12, 5, 0.7, 16, "SAME"),
            (8, 24, 3, 0.0, 8, "VALID"), (14, 4, 5, 0.3, 32, "SAME"), (9, 32, 3, 0.9, 4, "SAME"))]
    # input offset 128 and int8 biases: the raw bias is the narrower (hcsr+raw adds the offset)
    raw = [(u, d, sp, cl) for u, d, sp, cl in ((100, 300, 0.92, 40), (64, 256, 0.9, 16))]
    return {
        "fc": [(f"FC {u}x{d} {sp:.0%} sparse {cl} clusters", fc(structured(u, d, sp, cl)))
               for u, d, sp, cl in fcs]
        + [(f"FC {u}x{d} {sp:.0%} sparse {cl} clusters, input offset 128, int8 bias",
            fc(structured(u, d, sp, cl, 5), in_zp=-128, bias_range=(-100, 100)))
           for u, d, sp, cl in raw],
        "conv": [(f"CONV {k}x{k} {cin}->{cout} on {h}x{h} {pad} {sp:.0%}",
                  conv(cw(cout, k, cin, sp, cl), h=h, wd=h, padding=pad))
                 for h, cin, cout, k, sp, cl, pad in convs],
        "dw": [(f"DW {k}x{k} x{c} on {h}x{h} {pad} {sp:.0%}",
                dw(structured(c, k * k, sp, cl), k, k, h=h, wd=h, padding=pad))
               for h, c, k, sp, cl, pad in dws],
    }


def measure(tfl: bytes, board: str, fmt: str, tmp: Path, known: dict | None = None,
            optimize: str = "balanced") -> dict:
    """One layer on `board` in `fmt`: the cost model's key and work, and QEMU's instructions
    (taken from `known`, a row measured before, when given)."""
    from tinycompress.boards import get_board
    from tinycompress.compiler import compile_tflite, write_outdir
    from tinycompress.cost import estimate
    from tinycompress.ops.cost import cost_key, family
    from tinycompress.reference import Reference
    from tinycompress.targets import qemu

    files, m = compile_tflite(tfl, name="m", board=board, weights=fmt, optimize=optimize)
    lay = m["layers"][0]
    opt = estimate(tfl, board, (fmt,), optimize).layers[0].options[fmt]
    row = {"op": lay["op"], "key": cost_key(lay["variant"], lay["weight_format"]),
           "family": family(tuple(m["kernel_families"])), "label": lay["weight_format"],
           "work": opt.work, "estimated": opt.instructions, "weights_bytes": lay["weights_bytes"]}
    if known is not None:
        return dict(row, measured=known["measured"], bit_exact=known["bit_exact"])
    x = np.random.default_rng(0).integers(-128, 128, (2, m["input"]["size"])).astype(np.int8)
    expected = np.asarray(Reference(tfl).run_batch(x))
    out = tmp / f"{board}-{fmt}-{optimize}-{abs(hash(tfl)) % 10**8}"
    files["manifest.json"] = (json.dumps(m) + "\n").encode()
    write_outdir(out, files)
    r = qemu.run(out, get_board(board), x, workdir=out.with_name(out.name + "-build"))
    return dict(row, measured=int(r.layer_instructions[0]),
                bit_exact=bool(np.array_equal(r.outputs, expected.reshape(r.outputs.shape))))


def fit(rows: list[dict]) -> dict[tuple, tuple[float, ...]]:
    """Per (op, key, family): least squares on relative error, negative coefficients dropped."""
    from tinycompress.ops.cost import Work

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["op"], r["key"], r["family"]), []).append(r)
    coeffs = {}
    for key, rs in sorted(groups.items()):
        a = np.array([Work(**r["work"]).vector() for r in rs], float)
        y = np.array([r["measured"] for r in rs], float)
        a, y = a / y[:, None], np.ones(len(y))  # relative error
        keep = [j for j in range(a.shape[1]) if a[:, j].any()]
        while True:
            c, *_ = np.linalg.lstsq(a[:, keep], y, rcond=None)
            if (c >= 0).all() or len(keep) == 1:
                break
            keep.pop(int(np.argmin(c)))
        full = np.zeros(a.shape[1])
        full[keep] = np.maximum(c, 0)
        coeffs[key] = tuple(float(f"{v:.4g}") for v in full)
    return coeffs


def write_table(coeffs: dict) -> None:
    """Replace the fitted keys of COEFFS in tinycompress/ops/cost.py (others are kept)."""
    from tinycompress.ops.cost import COEFFS

    path = ROOT / "tinycompress" / "ops" / "cost.py"
    merged = {**COEFFS, **coeffs}
    body = "".join(f"    {k!r}: {v!r},\n" for k, v in sorted(merged.items()))
    text = path.read_text()
    new = re.sub(r"(COEFFS: dict\[.*?\] = \{\n).*?(^\})", lambda m: m.group(1) + body + m.group(2),
                 text, count=1, flags=re.S | re.M)
    path.write_text(new)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(BOARDS.values()))
    ap.add_argument("--ops", default="fc,conv,dw")
    ap.add_argument("--formats", default="dense,lut,sparse,huffman,int4,csr,hcsr,hcsr+raw")
    ap.add_argument("--optimize", default="balanced",
                    help="Comma-separated --optimize modes to compile with (size: the DSP cores' "
                         "w8 kernels, speed: their w16 ones).")
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON here.")
    ap.add_argument("--write", action="store_true", help="Write the fitted COEFFS table.")
    ap.add_argument("--reuse", type=Path,
                    help="A --json file of an earlier run: its QEMU counts are reused (the work "
                         "recomputed), only layers it lacks are run.")
    args = ap.parse_args(argv)
    table, table4 = cases(), cases(nibbles=True)
    old = json.loads(args.reuse.read_text()) if args.reuse else []
    known = {(r["board"], r["case"], r["format"], r.get("optimize", "balanced")): r for r in old}
    rows = []
    with tempfile.TemporaryDirectory(prefix="tc-costfit-") as tmp:
        for board in args.boards.split(","):
            for op in args.ops.split(","):
                for (title, tfl8), (_, tfl4) in zip(table[op], table4[op]):
                    for fmt in args.formats.split(","):
                        if fmt in ("csr", "hcsr", "hcsr+raw") and op != "fc":
                            continue  # csr and hcsr mean sparse outside FULLY_CONNECTED
                        tfl = tfl4 if fmt == "int4" else tfl8
                        for mode in args.optimize.split(","):
                            r = measure(tfl, board, fmt, Path(tmp),
                                        known.get((board, title, fmt, mode)), mode)
                            rows.append(dict(r, board=board, case=title, format=fmt,
                                             optimize=mode))
                            print(f"  {board} {title} {fmt} {mode}: {r['measured']:,}",
                                  file=sys.stderr)
    coeffs = fit(rows)
    print_rows(rows, coeffs)
    if args.write:
        write_table(coeffs)
    return finish(rows, args.json)


def print_rows(rows: list[dict], coeffs: dict) -> None:
    from tinycompress.ops.cost import FEATURES, Work

    def est(r):
        c = coeffs[(r["op"], r["key"], r["family"])]
        return sum(a * b for a, b in zip(c, Work(**r["work"]).vector()))

    print_table(["board", "layer", "kernel", "stored as", "bytes", "QEMU instr", "fitted",
                 "error", "bit-exact"],
                ([r["board"], r["case"], r["key"], r["label"], f"{r['weights_bytes']:,}",
                  f"{r['measured']:,}", f"{est(r):,.0f}", f"{est(r) / r['measured'] - 1:+.1%}",
                  "yes" if r["bit_exact"] else "NO"] for r in rows))
    print()
    print_table(["operator", "kernel", "family", *FEATURES],
                ([*k, *(f"{x:g}" for x in v)] for k, v in sorted(coeffs.items())))


if __name__ == "__main__":
    run(main)
