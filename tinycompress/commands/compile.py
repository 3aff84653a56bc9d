"""tinycompress compile MODEL -o OUTDIR"""

from __future__ import annotations

import json
from pathlib import Path

import click

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
                   "(coded sparse streams), int4 (signed nibbles: weights in -8..7), csr "
                   "(FULLY_CONNECTED rows laid out for speed), hcsr (FULLY_CONNECTED rows "
                   "Huffman coded, decoded by table lookup; hcsr+raw: with the narrowest bias), "
                   "or auto (per layer, by --optimize). "
                   "Default: auto for a model 'compress' pruned or weight-shared, else dense.")
@click.option("--optimize", type=click.Choice(OPTIMIZE), default="balanced", show_default=True,
              help="What --weights auto ranks by for the --board's core: size (fewest bytes), "
                   "speed (fewest estimated instructions) or balanced (the fastest within 10% "
                   "of the model's fewest bytes); also the DSP kernels' int16-weight choice.")
@click.option("--per-tensor-weights/--per-channel-weights", default=None,
              help="Quantise each weight tensor with one scale instead of one per output channel "
                   "(keeps the shared values of a weight-shared model few; float models only). "
                   "Default: per tensor for a model whose shared weights 'compress' put on the "
                   "per-tensor int8 grid (or that 'qat' trained so), else per channel.")
@click.option("--weight-bits", default="8", show_default=True,
              help="8, or 4: the weight layers quantised onto 4-bit grids per channel (stored "
                   "as int4, two a byte, unless --weights names another format).")
@click.option("--weight-method", default="rtn", show_default=True,
              help="With --weight-bits 4: rtn (round to nearest; keeps a 'qat --weight-bits 4' "
                   "model's values) or gptq (error compensation from the --calibration data).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def command(model, outdir, calibration, name, board, weights, optimize, per_tensor_weights,
            weight_bits, weight_method, as_json):
    """Compile MODEL (.keras, .h5, SavedModel dir or INT8 .tflite) to C99 in OUTDIR."""
    from ..api import compile as run

    result = run(model, outdir, calibration=calibration, name=name, board=board,
                 weights=weights, optimize=optimize,
                 per_channel=None if per_tensor_weights is None else not per_tensor_weights,
                 weight_bits=weight_bits, weight_method=weight_method)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
        return
    from ..report import print_compile_summary

    print_compile_summary(result.to_json())
