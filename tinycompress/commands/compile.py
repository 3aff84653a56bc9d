"""tinycompress compile MODEL -o OUTDIR"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..ops._weight_formats import CHOICES


@click.command("compile")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path),
              help="Output directory (created; files not written by tinycompress are kept).")
@click.option("--calibration", type=click.Path(path_type=Path),
              help="DATA.npz with array x (float inputs) to quantise a float model to INT8.")
@click.option("--name", default="model", show_default=True, help="Prefix of every C identifier.")
@click.option("--board", default=None,
              help="Target board (see 'tinycompress boards'): selects the core's kernels.")
@click.option("--weights", type=click.Choice(CHOICES), default="dense", show_default=True,
              help="Storage of FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D weights in flash: "
                   "dense int8, lut (codebook + b-bit indices), sparse (nonzeros + gaps), huffman "
                   "(coded sparse streams), or auto (per layer, the fewest bytes unless it saves "
                   "< 10%).")
@click.option("--per-tensor-weights", is_flag=True,
              help="Quantise each weight tensor with one scale instead of one per output channel "
                   "(keeps the shared values of a weight-shared model few; float models only).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def command(model, outdir, calibration, name, board, weights, per_tensor_weights, as_json):
    """Compile MODEL (.keras, .h5, SavedModel dir or INT8 .tflite) to C99 in OUTDIR."""
    from ..api import compile as run

    result = run(model, outdir, calibration=calibration, name=name, board=board,
                 weights=weights, per_channel=not per_tensor_weights)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
        return
    from ..report import print_compile_summary

    print_compile_summary(result.to_json())
