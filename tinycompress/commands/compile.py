"""tinycompress compile MODEL -o OUTDIR"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..compiler import compile_model
from ..ops._weight_formats import CHOICES
from ..ops.cost import OPTIMIZE


@click.command("compile")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path),
              help="Output directory (created; files not written by tinycompress are kept).")
@click.option("--calibration", type=click.Path(path_type=Path),
              help="DATA.npz with array x (float inputs) to quantise a float model to INT8.")
@click.option("--name", default="model", show_default=True, help="Prefix of every C identifier.")
@click.option("--board", default=None,
              help="Target board (see 'tinycompress boards'): selects the core's kernels.")
@click.option("--weights", type=click.Choice(CHOICES), default=None,
              help="Storage of FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D weights in flash: "
                   "dense int8, lut (codebook + b-bit indices), sparse (nonzeros + gaps), huffman "
                   "(coded sparse streams), or auto (per layer, by --optimize). Default: auto for "
                   "a model 'compress' pruned or weight-shared, else dense.")
@click.option("--optimize", type=click.Choice(OPTIMIZE), default="balanced", show_default=True,
              help="What --weights auto ranks by for the --board's core: size (fewest bytes), "
                   "speed (fewest estimated instructions) or balanced (the fastest within 10% "
                   "of the fewest bytes).")
@click.option("--per-tensor-weights/--per-channel-weights", default=None,
              help="Quantise each weight tensor with one scale instead of one per output channel "
                   "(keeps the shared values of a weight-shared model few; float models only). "
                   "Default: per tensor for a model whose shared weights 'compress' put on the "
                   "per-tensor int8 grid (or that 'qat' trained so), else per channel.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def command(model, outdir, calibration, name, board, weights, optimize, per_tensor_weights,
            as_json):
    """Compile MODEL (.keras, .h5, SavedModel dir or INT8 .tflite) to C99 in OUTDIR."""
    result = compile_model(model, outdir, calibration=calibration, name=name,
                           per_channel=None if per_tensor_weights is None else not per_tensor_weights,
                           board=board, weights=weights, optimize=optimize)
    m = result.manifest
    summary = {
        "outdir": str(outdir),
        "name": m["name"],
        "board": m["board"],
        "ops": m["ops"],
        "layers": len(m["layers"]),
        "macs": m["macs"],
        "weights_bytes": m["weights_bytes"],
        "code_bytes": m["code_bytes"],
        "flash_bytes": m["flash_bytes"],
        "flash_source": m["flash_source"],
        "arena_bytes": m["arena_bytes"],
        "state_bytes": m.get("state_bytes", 0),
        "ram_bytes": m["arena_bytes"] + m.get("state_bytes", 0),
        "files": sorted(m["files"]) + ["manifest.json"],
        "weights": m["weights"],
        "optimize": m.get("optimize"),
        "per_channel_weights": m["per_channel_weights"],
        "recognised": m.get("recognised"),
        "per_layer": [
            {k: layer.get(k) for k in ("name", "op", "weight_format", "weights_bytes",
                                       "dense_weights_bytes", "instructions_estimate")}
            for layer in m["layers"]
        ],
    }
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    from ..report import print_compile_summary

    print_compile_summary(summary)
