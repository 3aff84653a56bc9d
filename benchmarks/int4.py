"""4-bit weights on Fashion-MNIST LeNet-5: post-training (round to nearest, GPTQ) and QAT,
beside the float model and INT8, measured on the generated C.

    python benchmarks/int4.py            # about 10 min on 2 cores from scratch (LeNet-5 cached after)
    python benchmarks/int4.py --quick    # smoke run (6,000 training / 2,000 test images)

The float model: the classic LeNet-5 (61,706 parameters, zoo.lenet5), trained --epochs (Adam,
cosine decay, cached in --cache-dir; the teacher of benchmarks/distill_qat.py). Rows:

* INT8 PTQ: the converter's calibrated INT8 model (first 500 training images), dense int8 weights.
* int4 RTN / GPTQ: `compile --weight-bits 4 --weight-method rtn|gptq` on the float model
  (tinycompress/compress/int4.py): every weight layer on per-channel 4-bit grids, stored int4,
  two weights a byte; GPTQ compensates each layer's rounding with its calibration activations.
* int4 QAT: `qat --weight-bits 4` (--qat-epochs, Adam at --qat-lr from the float model), then
  `compile --weight-bits 4`: the C holds exactly the QAT model's 4-bit values.

Every C is verified bit-exactly against the TFLite reference interpreter (host gcc) on the first
--verify test images, then its accuracy measured on all 10,000 test images (the same C, run on
the host). Weight bytes: every constant array of the five weight layers (weights, biases,
requantisation; the other layers have none). Instructions per inference: the model compiled for
--board (its core's kernels: the DSP int4 kernels on a Cortex-M4), two test images under QEMU,
checked against the reference. Reads Fashion-MNIST from the Debian package
dataset-fashion-mnist; downloads nothing.

Measured (seed 0, 10 epochs, all 10,000 test images, bit-exact on the first 1,000): float 90.53%;
INT8 PTQ 90.50%, 63,618 B, 1.10M M4 instructions; int4 round to nearest 89.88%, GPTQ 90.43%,
QAT (3 epochs, Adam 2e-4) 90.25% (-0.28 pp from float), each 32,293 B (0.51x INT8) and 1.37M
instructions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

from _table import finish, print_table, yes_no  # noqa: E402
from distill_qat import teacher  # noqa: E402

from tinycompress import zoo  # noqa: E402
from tinycompress.compress.qat import QATSpec, qat  # noqa: E402


def c_row(model_path: Path, cal: Path, test: Path, x_test, y_test, work: Path, name: str,
          verify_count: int, **compile_args) -> dict:
    """Compile, verify bit-exactly on the first `verify_count` test images, measure the C's
    accuracy on all of them."""
    from tinycompress.compiler import compile_model
    from tinycompress.targets import host
    from tinycompress.vectors import quantize_input
    from tinycompress.verify import verify

    out = work / name
    m = compile_model(model_path, out, calibration=cal, **compile_args).manifest
    sub = work / f"{name}_verify.npz"
    np.savez(sub, x=x_test[:verify_count], y=y_test[:verify_count])
    v = verify(out, count=0, data=sub)
    q = quantize_input(x_test.reshape(len(x_test), -1), m["input"])
    got = host.run(out, m, q)
    acc = float(np.mean(np.argmax(got.reshape(len(x_test), -1), axis=1) == y_test))
    wbytes = sum(la["weights_bytes"] for la in m["layers"]
                 if la["op"] in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"))
    formats = sorted({la["weight_format"] for la in m["layers"]
                      if la["op"] in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D")})
    return {"layer_bytes": int(wbytes), "weights_bytes": int(m["weights_bytes"]),
            "bit_exact": bool(v["bit_exact"]), "verified": int(v["vectors"]),
            "c_accuracy": acc, "formats": "/".join(formats), "tflite": out / m["tflite"]}


def instructions(tflite: Path, board: str, weights: str, x_test, work: Path) -> int:
    """Instructions per inference of the model compiled for `board` (its core's kernels), under
    QEMU, the most over two test images (checked bit-exactly against the reference)."""
    import json

    from tinycompress.boards import get_board
    from tinycompress.compiler import compile_tflite, write_outdir
    from tinycompress.reference import Reference
    from tinycompress.targets import qemu
    from tinycompress.vectors import quantize_input

    data = tflite.read_bytes()
    files, m = compile_tflite(data, name="model", board=board, weights=weights)
    out = work / f"{tflite.parent.name}_{board}"
    files["manifest.json"] = (json.dumps(m) + "\n").encode()
    write_outdir(out, files)
    x = quantize_input(x_test[:2].reshape(2, -1), m["input"])
    run = qemu.run(out, get_board(board), x)
    if not np.array_equal(run.outputs.reshape(2, -1), Reference(data).run_batch(x).reshape(2, -1)):
        raise SystemExit(f"{board}: the C differs from the reference on {tflite}")
    return run.instructions_per_inference


def print_results(rows: list[dict], float_acc: float, params: int, epochs: int, tests: int,
                  board: str, rep) -> None:
    """The Markdown table of the rows and its notes."""
    int8 = rows[1]["layer_bytes"]
    print(f"\nFashion-MNIST LeNet-5 ({params:,} parameters, {epochs} epochs), "
          f"C accuracy on {tests:,} test images, bit-exact on the first {rows[1]['verified']:,}\n")
    board = "" if board == "none" else f"{board} instructions"
    print_table(["model", "method", "storage", "weight bytes", "vs INT8", "accuracy", "vs float",
                 "bit-exact"] + ([board] if board else []),
                [[r["model"], r["method"], r["formats"], f"{r['layer_bytes']:,}",
                  f"{r['layer_bytes'] / int8:.2f}x",
                  f"{(r['c_accuracy'] if r['c_accuracy'] is not None else r['keras_accuracy']):.2%}",
                  "-" if r["c_accuracy"] is None else f"{100 * (r['c_accuracy'] - float_acc):+.2f} pp",
                  yes_no(r["bit_exact"]) if r["verified"] else "-"]
                 + ([f"{r['instructions']:,}" if "instructions" in r else "-"] if board else [])
                 for r in rows])
    print(f"\nweight bytes: every constant of the weight layers (weights, biases, requantisation; "
          f"float: 4-byte parameters); float accuracy: Keras. Instructions: per inference, the "
          f"core's kernels, under QEMU. QAT simulated accuracy "
          f"{rep.qat_metric:.2%} (4-bit PTQ simulated from the float weights: {rep.ptq_metric:.2%}).")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 6,000 training / 2,000 test images")
    p.add_argument("--epochs", type=int, default=None, help="float training, default 10 (--quick: 2)")
    p.add_argument("--qat-epochs", type=float, default=None, help="default 3 (--quick: 0.5)")
    p.add_argument("--qat-lr", type=float, default=2e-4)
    p.add_argument("--verify", type=int, default=1000, help="test images verified bit-exactly")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=Path(".cache/benchmarks"))
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    p.add_argument("--board", default="mps2-an386",
                   help="count instructions per inference under QEMU on this board ('none': skip)")
    p.add_argument("--keep", type=Path, default=None, help="keep the compiled models in this directory")
    args = p.parse_args(argv)
    limit, test_limit = (6000, 2000) if args.quick else (None, None)
    epochs = args.epochs or (2 if args.quick else 10)
    qat_epochs = args.qat_epochs if args.qat_epochs is not None else (0.5 if args.quick else 3.0)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    t0 = time.perf_counter()
    x, y = zoo.fashion_arrays("train", limit=limit)
    xt, yt = zoo.fashion_arrays("test", limit=test_limit)
    model = teacher(epochs, args.seed, args.cache_dir, limit)
    float_acc = zoo.evaluate_accuracy(model, xt, yt)
    log(f"float LeNet-5 ready: {float_acc:.2%} ({time.perf_counter() - t0:.0f} s)")
    rows = [{"model": "float (Keras)", "method": "-", "layer_bytes": 4 * int(model.count_params()),
             "weights_bytes": 4 * int(model.count_params()), "c_accuracy": None,
             "keras_accuracy": float_acc, "bit_exact": True, "verified": 0, "formats": "float32"}]
    with tempfile.TemporaryDirectory(prefix="tc-int4-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cal, test = work / "cal.npz", work / "test.npz"
        np.savez(cal, x=x[:500])
        np.savez(test, x=xt, y=yt)
        src = work / "float.keras"
        model.save(src)
        spec = QATSpec(epochs=qat_epochs, seed=args.seed, learning_rate=args.qat_lr, weight_bits=4)
        qmodel = zoo.lenet5(seed=args.seed)
        qmodel.set_weights(model.get_weights())
        exported, rep = qat(qmodel, x, y, spec, xt, yt, x_cal=x[:500],
                            progress=lambda e, n, loss: log(f"  qat: epoch {e}/{n} loss {loss:.4f}"))
        qpath = work / "qat4.keras"
        exported.save(qpath)
        log(f"QAT done: simulated {rep.qat_metric:.2%} ({time.perf_counter() - t0:.0f} s)")
        for label, method, path, kw, sim in [
                ("INT8 PTQ", "converter", src, {}, None),
                ("int4 PTQ", "round to nearest", src, dict(weight_bits=4, weight_method="rtn"), None),
                ("int4 PTQ", "GPTQ", src, dict(weight_bits=4, weight_method="gptq"), None),
                ("int4 QAT", f"{qat_epochs:g} epochs", qpath, dict(weight_bits=4), rep.qat_metric)]:
            row = {"model": label, "method": method, "keras_accuracy": sim,
                   **c_row(path, cal, test, xt, yt, work, f"m{len(rows)}", args.verify, **kw)}
            if args.board != "none":
                row["instructions"] = instructions(row.pop("tflite"), args.board,
                                                   "int4" if row["formats"] == "int4" else "dense",
                                                   xt, work)
            row.pop("tflite", None)
            rows.append(row)
            log(f"  {label} {method}: C {row['c_accuracy']:.2%}, bit-exact {row['bit_exact']} "
                f"({time.perf_counter() - t0:.0f} s)")
    print_results(rows, float_acc, int(model.count_params()), epochs, len(xt), args.board, rep)
    print(f"total wall time {time.perf_counter() - t0:.0f} s")
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
