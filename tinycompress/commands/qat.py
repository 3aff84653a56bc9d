"""tinycompress qat MODEL --data TRAIN.npz -o OUT.keras"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("qat")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="TRAIN.npz with x, y, optionally x_test, y_test (else 10% is held out); its first "
                   "500 x calibrate the ranges, as 'compile --calibration TRAIN.npz' does.")
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path),
              help="Where to save the exported model (.keras, plain layers).")
@click.option("--epochs", type=click.FloatRange(0.0, 1000.0), default=2.0, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 65536), default=64, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(0.0, 10.0, min_open=True), default=1e-4, show_default=True)
@click.option("--per-tensor-weights", is_flag=True,
              help="Simulate one weight scale per tensor (then compile with --per-tensor-weights).")
@click.option("--weight-bits", default="8", show_default=True,
              help="8, or 4: weights fake-quantised on per-channel 4-bit grids (then compile with "
                   "--weight-bits 4: the C holds exactly these values, two a byte).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def command(model, data, out, epochs, batch_size, learning_rate, per_tensor_weights, weight_bits,
            seed, as_json):
    """Quantization-aware training: fine-tune MODEL through TFLite's int8 arithmetic, simulated."""
    from rich.console import Console

    from ..api import qat as run

    err = Console(stderr=True, quiet=as_json)

    def progress(epoch, epochs_, loss):
        err.print(f"[bold]qat[/bold] epoch {epoch}/{epochs_} loss {loss:.4f}")

    r = run(model, data, out, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
            per_channel=not per_tensor_weights, seed=seed, weight_bits=weight_bits,
            progress=progress)
    if as_json:
        click.echo(json.dumps(r.to_json(), sort_keys=True))
        return
    what = "INT8" if r.weight_bits == 8 else "4-bit weights,"
    fmt = (lambda v: f"{v:.2%}") if r.metric == "accuracy" else (lambda v: f"{v:.5g}")
    click.echo(f"{r.metric} on {r.test_samples} held-out samples: float {fmt(r.float_accuracy)}, "
               f"{what} post-training {fmt(r.ptq_accuracy)}, {what} after QAT "
               f"{fmt(r.qat_accuracy)} (simulated)")
    flag = " --weight-bits 4" if r.weight_bits == 4 else ""
    click.echo(f"saved {out}; compile it with --calibration {data}{flag} (compile recognises "
               f"its {'per-channel' if r.per_channel else 'per-tensor'} weight scales)")
