"""The Python API: one function per CLI command, each returning its typed result
(tinycompress.results). The CLI's commands are thin layers over these functions.

Every function takes what the command takes, and where it makes sense what a notebook has in
hand instead of a file: a ``keras.Model`` object for a model, numpy arrays for data. Bad input
raises :class:`tinycompress.errors.UserError` (one line naming the problem and the fix); a build
or run that fails unexpectedly raises :class:`tinycompress.errors.VerificationError`; nothing
calls ``sys.exit``. A mismatch is not an error: ``verify(...).bit_exact`` says it, as
``check(...).ok`` says whether the model fits.

Arrays given for data are written to a temporary .npz and read back by the same loaders the
CLI uses, so that both refuse the same inputs with the same messages.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .compiler import compile_model
from .errors import UserError
from .outdir import MANIFEST, SRC_DIR
from .results import (CheckResult, CompileResult, CompressResult, Deployed, DistillResult,
                      ExportResult, LayerWeights, QatResult, Recognised, ReportResult,
                      VerifyResult)

__all__ = ["compile", "verify", "check", "export", "compress", "distill", "qat"]


@contextmanager
def _workdir():
    with tempfile.TemporaryDirectory(prefix="tinycompress-api-") as tmp:
        yield Path(tmp)


def _is_path(value) -> bool:
    return isinstance(value, (str, os.PathLike))


def _npz(data, tmp: Path, what: str) -> Path:
    """`data` as an .npz path: a path as it is; an array (x), a pair (x, y) or a mapping of
    names to arrays (x, y, x_test, y_test) written to a temporary file."""
    if _is_path(data):
        return Path(data)
    if isinstance(data, np.ndarray):
        arrays = {"x": data}
    elif isinstance(data, tuple) and len(data) == 2:
        arrays = {"x": data[0], "y": data[1]}
    elif isinstance(data, Mapping):
        arrays = dict(data)
    else:
        raise UserError(f"{what} must be an .npz path, an array x, a pair (x, y) or a dict of "
                        f"arrays, got {type(data).__name__}")
    path = tmp / f"{what}.npz"
    try:
        np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
    except (TypeError, ValueError) as e:
        raise UserError(f"{what}: cannot store the arrays ({e}); give numeric numpy arrays") from None
    return path


def _model_path(model, tmp: Path, name: str) -> Path:
    """`model` as a file: a path as it is, a keras.Model saved to a temporary .keras file."""
    if _is_path(model):
        return Path(model)
    if not hasattr(model, "save") or not hasattr(model, "inputs"):
        raise UserError(f"model must be a path or a keras.Model, got {type(model).__name__}")
    path = tmp / f"{name}.keras"
    model.save(path)
    return path


def _keras_model(model, role: str = "model"):
    """A keras.Model from a path (loaded) or the object itself (used, and changed, in place)."""
    if not _is_path(model):
        if not hasattr(model, "predict"):
            raise UserError(f"{role} must be a path or a keras.Model, got {type(model).__name__}")
        return model
    from .frontends.keras import load_keras_model

    if not Path(model).is_file():
        raise UserError(f"{role} file {model} does not exist")
    return load_keras_model(Path(model))


def compile(model, outdir, *, calibration=None, board: str | None = None, name: str = "model",
            weights: str | None = None, per_channel: bool | None = None,
            optimize: str = "balanced", weight_bits: int | str = 8,
            weight_method: str = "rtn") -> CompileResult:
    """Compile `model` to C99 in `outdir`, as ``tinycompress compile MODEL -o OUTDIR``.

    model: a .keras/.h5/SavedModel path, an INT8 .tflite path, or a keras.Model object.
    calibration: float input samples that quantise a float model to INT8: an array x, or an
    .npz path with array x (needed unless the model is already INT8). board: a board name
    (``tinycompress boards``) whose core's kernels to use. name: prefix of every C identifier.
    weights: dense, lut, sparse, huffman, int4, csr, hcsr, hcsr+raw or auto (per layer, by the cost model).
    per_channel=False: one scale per weight tensor. weights and per_channel None (the default):
    as the model's marker says (a model compress, qat or distill saved: auto for a pruned or
    weight-shared model, the scales QAT simulated or the per-tensor grid compress shared on),
    else dense and per channel (``recognised`` in the result). optimize: what auto ranks by
    for the board's core, and the DSP kernels' int16-weight choice: balanced (the fastest
    within 10% of the model's fewest bytes), size or speed. weight_bits=4: the weight layers quantised onto 4-bit grids per channel (stored int4
    unless `weights` names another format), by weight_method "rtn" (round to nearest) or "gptq"
    (error compensation from the calibration data).
    """
    with _workdir() as tmp:
        cal = None if calibration is None else _npz(calibration, tmp, "calibration")
        path = _model_path(model, tmp, name)
        result = compile_model(path, Path(outdir), calibration=cal, name=name, board=board,
                               weights=weights, per_channel=per_channel, optimize=optimize,
                               weight_bits=str(weight_bits), weight_method=weight_method)
    return compile_result(Path(outdir), result.manifest)


def compile_result(outdir: Path, m: dict) -> CompileResult:
    """The CompileResult of a compile's manifest `m`."""
    per_layer = [LayerWeights(**{k: layer.get(k) for k in (
        "name", "op", "weight_format", "weights_bytes", "dense_weights_bytes",
        "instructions_estimate")}) for layer in m["layers"]]
    rec = m.get("recognised")
    state = m.get("state_bytes", 0)
    return CompileResult(
        outdir=outdir, name=m["name"], board=m["board"], ops=dict(m["ops"]),
        layers=len(m["layers"]), macs=m["macs"], weights_bytes=m["weights_bytes"],
        code_bytes=m["code_bytes"], flash_bytes=m["flash_bytes"], flash_source=m["flash_source"],
        arena_bytes=m["arena_bytes"], state_bytes=state, ram_bytes=m["arena_bytes"] + state,
        files=sorted(m["files"]) + [MANIFEST], src_dir=outdir / SRC_DIR, weights=m["weights"],
        optimize=m.get("optimize"), per_channel_weights=m.get("per_channel_weights", True),
        recognised=None if not rec else Recognised.from_json(rec), per_layer=per_layer,
        manifest=m)


def verify(outdir, *, target: str = "host", board: str | None = None, vectors: int = 100,
           data=None, sanitize: bool = False) -> VerifyResult:
    """Run the C in `outdir` and compare every output element with the TFLite reference
    interpreter, as ``tinycompress verify``. ``result.bit_exact`` is the verdict.

    target: host (the machine's C compiler) or qemu (with board). vectors: how many inputs
    (random ones, or the first N of data; 0: all of data). data: inputs x, (x, y) with labels
    for accuracy, or an .npz path. sanitize: build with -fsanitize=address,undefined (host).
    """
    from .verify import verify as run

    with _workdir() as tmp:
        path = None if data is None else _npz(data, tmp, "data")
        report = run(Path(outdir), target=target, count=vectors, data=path, board=board,
                     sanitize=sanitize)
    return VerifyResult.from_json(report)


def check(outdir, board: str, *, max_flash: int | str | None = None,
          max_ram: int | str | None = None, max_latency_ms: float | None = None) -> CheckResult:
    """Compare the model's flash, RAM and estimated latency with `board` and the budgets, as
    ``tinycompress check``; ``result.ok`` says whether it fits. Budgets are bytes or sizes such
    as "256K". Runs QEMU once when ``verify(target="qemu")`` has stored no figures."""
    from .boards import parse_size
    from .check import check as run

    if max_latency_ms is not None and not max_latency_ms > 0:
        raise UserError(f"--max-latency-ms {max_latency_ms:g} must be positive")
    report = run(Path(outdir), board,
                 max_flash=None if max_flash is None else parse_size(max_flash),
                 max_ram=None if max_ram is None else parse_size(max_ram),
                 max_latency_ms=max_latency_ms)
    return CheckResult.from_json(report.to_dict())


def export(outdir, format: str, dest, *, zip: bool = False, name: str | None = None,
           version: str = "1.0.0", author: str = "tinycompress",
           url: str | None = None) -> ExportResult:
    """Package the compiled model in `outdir` as a cmake, arduino, zephyr or platformio package
    in `dest` (and dest.zip with zip=True), as ``tinycompress export``. name: the package's
    name (default: from the model's prefix); version, author, url: its metadata."""
    from .export import DEFAULT_URL, Meta, export as run, format_module

    format_module(format)  # an unknown format is refused before anything else
    meta = Meta(name=name, version=version, author=author, url=url or DEFAULT_URL)
    return ExportResult.from_json(run(Path(outdir), format, Path(dest), meta=meta,
                                      zip=zip).to_dict())


def report(outdir, html, *, png_dir=None, board: str | None = None,
           max_latency_ms: float | None = None) -> ReportResult:
    """Write the HTML report of the compiled model in `outdir` to `html` (and every plot as
    png_dir/<figure>.png when png_dir is given), as ``tinycompress report``; budget bars against
    `board` (default: the board outdir was compiled for)."""
    from .report_html import build_report, write_report

    page = build_report(Path(outdir), board=board, png=png_dir is not None,
                        max_latency_ms=max_latency_ms)
    written = write_report(page, Path(html), None if png_dir is None else Path(png_dir))
    return ReportResult(html=Path(html), figures=list(page.figures),
                        pngs=[Path(p) for p in written[1:]])


Progress = Callable[..., None]


def _layer_values(values, option: str, kind, example: str) -> dict:
    """A NAME -> value mapping, or NAME=VALUE strings (the CLI's form) parsed into one."""
    if values is None:
        return {}
    items = (list(dict(values).items()) if isinstance(values, Mapping)
             else [str(item).partition("=")[::2] for item in values])
    plain = [f"{k}={v}" for k, v in items] if isinstance(values, Mapping) else list(values)
    out = {}
    for (name, value), item in zip(items, plain):
        try:
            out[name] = kind(value)
        except (TypeError, ValueError):
            name = ""
        if not name:
            what = "S" if kind is float else "B"
            raise UserError(f"{option} '{item}' is not NAME={what}: give e.g. {example}")
    return out


def _compress_spec(*, sparsity, layer_sparsity, remove_filters, bits, layer_bits, clusters,
                   cluster, grid, epochs, augment, distill, temperature):
    """The CompressSpec of compress()'s options (the paper's stages)."""
    from .compress import ClusterSpec, CompressSpec, PruneSpec, StructuredSpec, TrainSpec

    per_layer = _layer_values(layer_sparsity, "--layer-sparsity", float, "dense_1=0.9")
    if sparsity is not None and per_layer:
        raise UserError("give either --sparsity or --layer-sparsity, not both")
    if clusters is not None:
        if bits is not None:
            raise UserError("give either --bits or --clusters, not both")
        bits = max(1, math.ceil(math.log2(clusters + 1)))
    regularise = dict(augment=augment, distill=distill, temperature=temperature)
    train = TrainSpec(epochs=epochs, **regularise)
    prune_kw = {"train": train, **({"per_layer": per_layer} if per_layer else {})}
    if sparsity is not None:
        prune_kw["sparsity"] = sparsity
    cluster_spec = None
    if cluster:
        ckw = {"train": TrainSpec(epochs=max(0.1, epochs / 2), learning_rate=1e-4, **regularise),
               "grid": grid}
        if bits is not None:
            ckw.update(conv_bits=bits, dense_bits=bits)
        if clusters is not None:
            ckw["clusters"] = clusters
        ckw_layers = _layer_values(layer_bits, "--layer-bits", int, "conv1=8")
        if ckw_layers:
            ckw["per_layer"] = ckw_layers
        cluster_spec = ClusterSpec(**ckw)
    structured = (None if remove_filters is None
                  else StructuredSpec(fraction=remove_filters, train=train))
    return CompressSpec(prune=PruneSpec(**prune_kw), cluster=cluster_spec, structured=structured)


def compress(model, data, out, *, sparsity: float | None = None, layer_sparsity=None,
             remove_filters: float | None = None, bits: int | None = None, layer_bits=None,
             clusters: int | None = None, cluster: bool = True, grid: str = "int8",
             epochs: float = 2.0, augment: str = "", distill: float = 0.0,
             temperature: float = 4.0, qat: bool = False, val_split: float = 0.1,
             board: str | None = None, optimize: str = "balanced",
             progress: Progress | None = None) -> CompressResult:
    """Prune, share weights (k-means) and Huffman-account `model`, then save it to `out`
    (.keras), as ``tinycompress compress``.

    model: a .keras/.h5 path or a keras.Model (changed in place). data: (x, y) arrays or a
    TRAIN.npz path; the first val_split of it is held out to measure the metric (data sorted by
    class, whose first samples would hold out a class or miss one, is refused). layer_sparsity /
    layer_bits: {layer name: value} (or "NAME=VALUE" strings). cluster=False: prune only.
    qat=True: finish with quantization-aware training (per-tensor int8 weights).
    The saved model carries a marker (frontends/marker.py) that a plain compile() recognises;
    ``deployed`` is what that compile places on `board`'s core (auto ranked by `optimize`, as
    compile's), from the cost model (tinycompress.cost).
    progress(stage, step, total) is called while training.
    """
    from .compress import compress as run
    from .compress.save import save_keras
    from .datasets import check_holdout, load_npz

    out = _check_keras_output(out)
    spec = _compress_spec(sparsity=sparsity, layer_sparsity=layer_sparsity,
                          remove_filters=remove_filters, bits=bits, layer_bits=layer_bits,
                          clusters=clusters, cluster=cluster, grid=grid, epochs=epochs,
                          augment=augment, distill=distill, temperature=temperature)
    if not 0 <= val_split <= 0.5:
        raise UserError(f"--val-split {val_split} must be in 0..0.5")
    from .compiler import context_for

    context_for(board, "dense", optimize)  # an unknown board is refused before training
    with _workdir() as tmp:
        x, y = load_npz(_npz(data, tmp, "data"), require_y=True)
    previous = _marker_of(model)
    keras_model = _keras_model(model)
    if qat:
        from .compress.qat import plan

        plan(keras_model)  # refuse a model QAT cannot simulate before compressing it
    n_val = int(len(x) * val_split)
    check_holdout(y[n_val:], y[:n_val], f"--val-split {val_split:g} (the first {n_val} samples of the data)",
                  "--val-split 0 (no held-out accuracy)")
    x_train, y_train = x[n_val:], y[n_val:]
    x_val, y_val = (x[:n_val], y[:n_val]) if n_val else (None, None)
    keras_model, report = run(keras_model, x_train, y_train, spec, x_val, y_val, progress=progress)
    qat_report = None
    if qat:
        from .compress.qat import QATSpec, qat as run_qat

        qspec = QATSpec(epochs=max(0.1, epochs / 2), per_channel=False, keep_structure=True)
        step = None if progress is None else (lambda e, n, loss: progress("qat", e, n))
        keras_model, qat_report = run_qat(keras_model, x_train, y_train, qspec, x_val, y_val,
                                          x_cal=x, progress=step)
    save_keras(keras_model, out, _compress_marker(previous, report, grid if cluster else None,
                                                 qat_report is not None))
    return _compress_result(out, report, qat_report, _deployed(out, x, board, optimize))


def _marker_of(model) -> dict | None:
    """The marker of a model file (frontends/marker.py); None for a keras.Model object."""
    from .frontends import marker

    return marker.read(Path(model)) if _is_path(model) else None


def _compress_marker(previous: dict | None, report, grid: str | None, qat: bool) -> dict:
    """What compress did (frontends/marker.py): kept fractions, shared-weight bits, the grid."""
    from .frontends import marker

    m = marker.step(previous, "compress",
                    pruned={r.name: r.kept for r in report.layers} if report.prune else {},
                    shared={r.name: r.weight_bits for r in report.layers if r.weight_bits < 32},
                    grid=grid)
    return marker.step(m, "qat", qat_per_channel=False) if qat else m


def _deployed(out: Path, x, board: str | None, optimize: str) -> Deployed:
    """What a plain compile of the saved model places, or why it would refuse it."""
    from .cost import deployed
    from .errors import TinyCompressError

    try:
        return Deployed.from_json(deployed(out, x, board, optimize))
    except TinyCompressError as e:  # saved, but compile would refuse it: say why
        return Deployed(error=str(e))


def _compress_result(out: Path, report, qat_report, placed: Deployed) -> CompressResult:
    rows = report.to_dict()
    qat_summary = (None if qat_report is None else
                   {k: v for k, v in qat_report.to_dict().items() if k != "layers"})
    return CompressResult.from_json_with({
        "output": str(out), "metric": report.metric,
        "accuracy_before": report.before, "accuracy_after": report.after,
        "accuracy_after_prune": report.after_prune,
        "params": sum(r.weights for r in report.layers),
        "nonzero_params": int(round(sum(r.kept * r.weights for r in report.layers))),
        "bytes_before": report.bytes_before, "bytes_after": report.bytes_after,
        "ratio": report.ratio, "layers": rows["layers"], "structured": rows["structured"],
        "qat": qat_summary, "other_bytes": report.other_bytes, "deployed": placed.to_json()},
        table=report.table())


def distill(teacher, student, data, out, *, temperature: float = 4.0, alpha: float = 0.7,
            epochs: float = 5.0, batch_size: int = 64, learning_rate: float = 1e-3,
            seed: int = 0, hints=(), hint_weight: float = 0.5,
            progress: Progress | None = None) -> DistillResult:
    """Train `student` on the labels and on `teacher`'s softened outputs (Hinton et al. 2015)
    and save it to `out` (.keras), as ``tinycompress distill``.

    teacher, student: .keras/.h5 paths or keras.Model objects (the student is trained in
    place). data: a dict with x, y (integer labels) and optionally x_test, y_test, a pair
    (x, y), or a TRAIN.npz path; without x_test, 10% is held out. hints: "TEACHER=STUDENT"
    layer pairs (FitNets). progress(phase, epoch, epochs, loss, accuracy) is called per epoch.
    """
    from .compress.distill import DistillSpec, distill as run, parse_hints
    from .compress.save import save_keras
    from .datasets import load_train_test

    out = _check_keras_output(out)
    pairs = [h if isinstance(h, str) else "=".join(h) for h in hints]
    spec = DistillSpec(temperature=temperature, alpha=alpha, epochs=epochs, batch_size=batch_size,
                       learning_rate=learning_rate, seed=seed, hints=parse_hints(pairs),
                       hint_weight=hint_weight)
    with _workdir() as tmp:
        x, y, x_test, y_test = load_train_test(_npz(data, tmp, "data"), seed=seed)
    from .frontends import marker

    previous = _marker_of(student)
    t_model, s_model = _keras_model(teacher, "teacher"), _keras_model(student, "student")
    s_model, _, report = run(t_model, s_model, x, y, spec, x_test, y_test, progress)
    save_keras(s_model, out, marker.step(previous, "distill"))
    fields = {k: v for k, v in report.to_dict().items() if not k.startswith("losses")}
    return DistillResult.from_json({
        "output": str(out), **fields, "test_samples": int(len(x_test)),
        "temperature": temperature, "alpha": alpha, "epochs": epochs,
        "hints": [f"{t}={s}" for t, s in spec.hints]})


def qat(model, data, out, *, epochs: float = 2.0, batch_size: int = 64,
        learning_rate: float = 1e-4, per_channel: bool = True, seed: int = 0,
        weight_bits: int | str = 8, progress: Progress | None = None) -> QatResult:
    """Quantization-aware training: fine-tune `model` through TFLite's int8 arithmetic,
    simulated, and save the plain Keras model to `out` (.keras), as ``tinycompress qat``.

    model: a .keras/.h5 path or a keras.Model (changed in place). data: as for distill(); its
    first 500 x calibrate the ranges, as ``compile(calibration=x)`` takes them.
    per_channel=False: one weight scale per tensor (then compile with per_channel=False).
    weight_bits=4: weights fake-quantised on 4-bit grids (then compile with weight_bits=4).
    progress(epoch, epochs, loss) is called per epoch.
    """
    from .compress.int4 import check_weight_bits
    from .compress.qat import QATSpec, qat as run
    from .compress.save import save_keras
    from .datasets import load_npz, load_train_test

    out = _check_keras_output(out)
    bits = check_weight_bits(weight_bits)
    spec = QATSpec(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                   per_channel=per_channel, weight_bits=bits)
    with _workdir() as tmp:
        path = _npz(data, tmp, "data")
        x_all, _ = load_npz(path, require_y=True)
        x, y, x_test, y_test = load_train_test(path, seed=seed)
    from .frontends import marker

    previous = _marker_of(model)
    keras_model = _keras_model(model)
    exported, report = run(keras_model, x, y, spec, x_test, y_test, x_cal=x_all,
                           progress=progress)
    save_keras(exported, out, marker.step(previous, "qat", qat_per_channel=spec.per_channel))
    return QatResult.from_json({
        "output": str(out), **report.to_dict(), "test_samples": int(len(x_test)),
        "calibration_samples": int(min(len(x_all), spec.calibration_samples)),
        "per_channel": spec.per_channel, "epochs": epochs, "weight_bits": bits})


def _check_keras_output(out) -> Path:
    from .compress.save import check_keras_output

    out = Path(out)
    check_keras_output(out)
    return out
