"""tinycompress compress MODEL --data TRAIN.npz -o OUT.keras: the Deep Compression passes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from ..errors import TinyCompressError, UserError
from ..ops.cost import OPTIMIZE
from ._save import save_keras


def _per_layer(values: tuple[str, ...], option: str = "--layer-sparsity", kind=float,
               example: str = "dense_1=0.9") -> dict[str, float]:
    result = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            result[name] = kind(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            what = "S" if kind is float else "B"
            raise UserError(f"{option} '{item}' is not NAME={what}: give e.g. {example}")
    return result


def deployed(path: Path, x, board: str | None, optimize: str) -> dict:
    """What 'compile PATH --calibration DATA [--board B]' (no other flags) places in flash:
    the cost model's bytes (tinycompress/cost.py) of the format compile recognises."""
    from ..compiler import context_for, recognise
    from ..cost import estimate

    weights, per_channel, _ = recognise(path, None, None)
    context_for(board, weights, optimize)
    est = estimate(path, board, (weights,), optimize, calibration=x, per_channel=per_channel)
    layers = [{"name": la.name, "op": la.op, "weight_format": la.options[weights].weight_format,
               "bytes": la.options[weights].bytes,
               "instructions_estimate": la.options[weights].instructions}
              for la in est.layers if la.options[weights].bytes]
    total, instr = est.total(weights)
    return {"bytes": total, "instructions_estimate": instr, "weights": weights,
            "per_channel_weights": per_channel, "board": board, "layers": layers}


def _placed_line(placed: dict, float_bytes: int) -> str:
    if "error" in placed:
        return f"compile would refuse this model: {placed['error']}"
    scales = "per-channel" if placed["per_channel_weights"] else "per-tensor"
    return (f"compile places {placed['bytes']:,} B of parameters in flash (--weights "
            f"{placed['weights']}, {scales} weights, recognised without flags; "
            f"{float_bytes / placed['bytes']:.1f}x smaller than float32)")


def _marker(model: Path, report, grid: str | None, qat: bool) -> dict:
    """What compress did (frontends/marker.py): kept fractions, shared-weight bits, the grid."""
    from ..frontends import marker

    m = marker.step(marker.read(model), "compress",
                    pruned={r.name: r.kept for r in report.layers} if report.prune else {},
                    shared={r.name: r.weight_bits for r in report.layers if r.weight_bits < 32},
                    grid=grid)
    return marker.step(m, "qat", qat_per_channel=False) if qat else m


def _finish(out: Path, report, qat_report, placed: dict, as_json: bool) -> None:
    """Print the results: one JSON object, or the paper-style table and what compile places."""
    rows = report.to_dict()
    params = sum(r.weights for r in report.layers)
    nonzero = int(round(sum(r.kept * r.weights for r in report.layers)))
    summary = {
        "output": str(out), "metric": report.metric,
        "accuracy_before": report.before, "accuracy_after": report.after,
        "accuracy_after_prune": report.after_prune,
        "params": params, "nonzero_params": nonzero,
        "bytes_before": report.bytes_before, "bytes_after": report.bytes_after,
        "ratio": report.ratio, "layers": rows["layers"], "structured": rows["structured"],
        "qat": None if qat_report is None else {k: v for k, v in qat_report.to_dict().items() if k != "layers"},
        "deployed": placed,
    }
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True, default=float))
    else:
        click.echo(report.table())
        if qat_report is not None:
            click.echo(f"QAT: INT8 (simulated, per-tensor weights) {qat_report.ptq_metric:.4g} before, "
                       f"{qat_report.qat_metric:.4g} after")
        click.echo(_placed_line(placed, report.bytes_before + report.other_bytes))
        click.echo(f"saved {out}")


@click.command("compress")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="TRAIN.npz with x (inputs) and y (labels or targets).")
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path),
              help="Where to save the compressed Keras model (.keras).")
@click.option("--sparsity", type=click.FloatRange(0.0, 0.999), default=None,
              help="Overall fraction of weights pruned, spread over layers by sensitivity.")
@click.option("--layer-sparsity", multiple=True, metavar="NAME=S",
              help="Per-layer sparsity instead of --sparsity (repeatable).")
@click.option("--remove-filters", type=click.FloatRange(0.0, 0.99), default=None, metavar="F",
              help="First remove this fraction of the filters/units (smallest L1 norm) of every layer "
                   "that feeds one Conv2D/Dense, then fine-tune the smaller model.")
@click.option("--bits", type=click.IntRange(1, 8), default=None,
              help="Cluster index bits for every layer (default: conv 8, dense 5, as the paper).")
@click.option("--layer-bits", multiple=True, metavar="NAME=B",
              help="Cluster index bits for one layer, over --bits and the defaults (repeatable).")
@click.option("--clusters", type=click.IntRange(1, 255), default=None,
              help="Shared weights per layer; sets --bits to ceil(log2(K + 1)) (one code is zero).")
@click.option("--no-cluster", is_flag=True, help="Prune only (no weight sharing).")
@click.option("--grid", type=click.Choice(["int8", "none"]), default="int8", show_default=True,
              help="Shared weights on each layer's per-tensor int8 grid, so that "
                   "'compile --per-tensor-weights' keeps them exactly (none: float centroids).")
@click.option("--epochs", type=click.FloatRange(0.1, 1000), default=2.0, show_default=True,
              help="Fine-tuning epochs per stage.")
@click.option("--augment", default="", metavar="OPS",
              help="Augment image batches while fine-tuning: comma-separated flip, shift or shiftN "
                   "(random shift by up to N pixels, default 2), e.g. 'flip,shift'.")
@click.option("--distill", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True, metavar="A",
              help="Knowledge distillation from the uncompressed model: weight of its soft targets "
                   "in the fine-tuning loss (classifiers only).")
@click.option("--temperature", type=click.FloatRange(0.0, 100.0, min_open=True), default=4.0,
              show_default=True, help="Distillation temperature.")
@click.option("--qat", is_flag=True,
              help="Finish with quantization-aware training (per-tensor int8 weights, as compile "
                   "--per-tensor-weights quantises them; pruned and shared weights kept).")
@click.option("--val-split", type=click.FloatRange(0.0, 0.5), default=0.1, show_default=True,
              help="Fraction of TRAIN.npz held out to measure accuracy before and after.")
@click.option("--board", default=None,
              help="Report the bytes 'compile --board BOARD' places (its core's auto choices).")
@click.option("--optimize", type=click.Choice(OPTIMIZE), default="balanced", show_default=True,
              help="As compile's --optimize, for the bytes reported.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def command(model, data, out, sparsity, layer_sparsity, remove_filters, bits, layer_bits, clusters, no_cluster,
            grid, epochs, augment, distill, temperature, qat, val_split, board, optimize, as_json):
    """Prune, share weights (k-means) and Huffman-account MODEL, as Deep Compression does."""
    from rich.console import Console

    from ..compress import ClusterSpec, CompressSpec, PruneSpec, StructuredSpec, TrainSpec, compress
    from ..datasets import load_npz
    from ..frontends.keras import load_keras_model

    err = Console(stderr=True)
    if out.suffix != ".keras":
        raise UserError(f"-o {out}: the compressed model is saved as Keras 3; use a .keras name")
    if sparsity is not None and layer_sparsity:
        raise UserError("give either --sparsity or --layer-sparsity, not both")
    if clusters is not None:
        if bits is not None:
            raise UserError("give either --bits or --clusters, not both")
        bits = max(1, math.ceil(math.log2(clusters + 1)))
    x, y = load_npz(data, require_y=True)
    from ..compiler import context_for

    context_for(board, "dense", optimize)  # an unknown board is refused before training
    if not Path(model).is_file():
        raise UserError(f"model file {model} does not exist")
    keras_model = load_keras_model(Path(model))
    if qat:
        from ..compress.qat import plan

        plan(keras_model)  # refuse a model QAT cannot simulate before compressing it
    n_val = int(len(x) * val_split)
    x_train, y_train = x[n_val:], y[n_val:]
    x_val, y_val = (x[:n_val], y[:n_val]) if n_val else (None, None)
    regularise = dict(augment=augment, distill=distill, temperature=temperature)
    train = TrainSpec(epochs=epochs, **regularise)
    prune_kw = {"train": train}
    if layer_sparsity:
        prune_kw["per_layer"] = _per_layer(layer_sparsity)
    if sparsity is not None:
        prune_kw["sparsity"] = sparsity
    cluster = None
    if not no_cluster:
        ckw = {"train": TrainSpec(epochs=max(0.1, epochs / 2), learning_rate=1e-4, **regularise), "grid": grid}
        if bits is not None:
            ckw.update(conv_bits=bits, dense_bits=bits)
        if layer_bits:
            ckw["per_layer"] = _per_layer(layer_bits, "--layer-bits", int, "conv1=8")
        cluster = ClusterSpec(**ckw)
    structured = None if remove_filters is None else StructuredSpec(fraction=remove_filters, train=train)
    spec = CompressSpec(prune=PruneSpec(**prune_kw), cluster=cluster, structured=structured)

    last = {}

    def progress(stage: str, step: int, total: int):
        tenth = max(1, total // 10)
        if step == total or step % tenth == 0 or last.get("stage") != stage:
            err.print(f"[bold]compress[/bold] {stage}: step {step}/{total}")
        last["stage"] = stage

    keras_model, report = compress(keras_model, x_train, y_train, spec, x_val, y_val,
                                   progress=progress)
    qat_report = None
    if qat:
        from ..compress.qat import QATSpec, qat as run_qat

        qspec = QATSpec(epochs=max(0.1, epochs / 2), per_channel=False, keep_structure=True)
        keras_model, qat_report = run_qat(keras_model, x_train, y_train, qspec, x_val, y_val, x_cal=x,
                                          progress=lambda e, n, loss: progress("qat", e, n))
    save_keras(keras_model, out, _marker(Path(model), report, grid if cluster else None,
                                        qat_report is not None))
    try:
        placed = deployed(out, x, board, optimize)
    except TinyCompressError as e:  # saved, but compile would refuse it: say why
        placed = {"error": str(e)}
    _finish(out, report, qat_report, placed, as_json)
