"""tinycompress qat MODEL --data TRAIN.npz -o OUT.keras"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._save import check_keras_output, save_keras


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
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def command(model, data, out, epochs, batch_size, learning_rate, per_tensor_weights, seed, as_json):
    """Quantization-aware training: fine-tune MODEL through TFLite's int8 arithmetic, simulated."""
    from rich.console import Console

    from ..compress.qat import QATSpec, qat
    from ..datasets import load_npz, load_train_test
    from ..errors import UserError
    from ..frontends.keras import load_keras_model

    check_keras_output(out)
    spec = QATSpec(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                   per_channel=not per_tensor_weights)
    x_all, _ = load_npz(data, require_y=True)
    x, y, x_test, y_test = load_train_test(data, seed=seed)
    if not Path(model).is_file():
        raise UserError(f"model file {model} does not exist")
    keras_model = load_keras_model(Path(model))
    err = Console(stderr=True, quiet=as_json)

    def progress(epoch, epochs_, loss):
        err.print(f"[bold]qat[/bold] epoch {epoch}/{epochs_} loss {loss:.4f}")

    exported, report = qat(keras_model, x, y, spec, x_test, y_test, x_cal=x_all, progress=progress)
    from ..frontends import marker

    save_keras(exported, out, marker.step(marker.read(Path(model)), "qat",
                                          qat_per_channel=spec.per_channel))
    summary = {"output": str(out), **report.to_dict(), "test_samples": int(len(x_test)),
               "calibration_samples": int(min(len(x_all), spec.calibration_samples)),
               "per_channel": spec.per_channel, "epochs": epochs}
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    fmt = (lambda v: f"{v:.2%}") if report.metric == "accuracy" else (lambda v: f"{v:.5g}")
    click.echo(f"{report.metric} on {len(x_test)} held-out samples: float {fmt(report.float_metric)}, "
               f"INT8 post-training {fmt(report.ptq_metric)}, INT8 after QAT {fmt(report.qat_metric)} "
               "(simulated)")
    click.echo(f"saved {out}; compile it with --calibration {data} (compile recognises its "
               f"{'per-channel' if spec.per_channel else 'per-tensor'} weight scales)")
