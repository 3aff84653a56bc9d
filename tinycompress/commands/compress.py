"""tinycompress compress MODEL --data TRAIN.npz -o OUT.keras: the Deep Compression passes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UserError
from ..ops.cost import OPTIMIZE


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
              help="At most K shared weights per layer, indexed in ceil(log2(K + 1)) bits "
                   "(one code is zero).")
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
              help="Fraction of TRAIN.npz held out (its first samples; data sorted by class is refused) "
                   "to measure accuracy before and after.")
@click.option("--board", default=None,
              help="Report the bytes 'compile --board BOARD' places (its core's auto choices).")
@click.option("--optimize", type=click.Choice(OPTIMIZE), default="balanced", show_default=True,
              help="As compile's --optimize, for the bytes reported.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def command(model, data, out, sparsity, layer_sparsity, remove_filters, bits, layer_bits, clusters, no_cluster,
            grid, epochs, augment, distill, temperature, qat, val_split, board, optimize, as_json):
    """Prune, share weights (k-means) and Huffman-account MODEL, as Deep Compression does."""
    from rich.console import Console

    from ..api import compress as run

    err = Console(stderr=True)
    last = {}

    def progress(stage: str, step: int, total: int):
        tenth = max(1, total // 10)
        if step == total or step % tenth == 0 or last.get("stage") != stage:
            err.print(f"[bold]compress[/bold] {stage}: step {step}/{total}")
        last["stage"] = stage

    if out.suffix != ".keras":
        raise UserError(f"-o {out}: the compressed model is saved as Keras 3; use a .keras name")
    result = run(model, data, out, sparsity=sparsity, layer_sparsity=layer_sparsity,
                 remove_filters=remove_filters, bits=bits, layer_bits=layer_bits,
                 clusters=clusters, cluster=not no_cluster, grid=grid, epochs=epochs,
                 augment=augment, distill=distill, temperature=temperature, qat=qat,
                 val_split=val_split, board=board, optimize=optimize, progress=progress)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True, default=float))
    else:
        click.echo(result.table)
        if result.qat is not None:
            click.echo(f"QAT: INT8 (simulated, per-tensor weights) {result.qat.ptq_accuracy:.4g} "
                       f"before, {result.qat.qat_accuracy:.4g} after")
        click.echo(_placed_line(result.deployed, result.bytes_before + result.other_bytes))
        click.echo(f"saved {out}")


def _placed_line(placed, float_bytes: int) -> str:
    """What a plain compile places (results.Deployed), in one line."""
    if placed.error is not None:
        return f"compile would refuse this model: {placed.error}"
    scales = "per-channel" if placed.per_channel_weights else "per-tensor"
    return (f"compile places {placed.bytes:,} B of parameters in flash (--weights "
            f"{placed.weights}, {scales} weights, recognised without flags; "
            f"{float_bytes / placed.bytes:.1f}x smaller than float32)")
