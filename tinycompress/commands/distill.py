"""tinycompress distill --teacher T.keras --student S.keras --data TRAIN.npz -o OUT.keras"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("distill")
@click.option("--teacher", required=True, type=click.Path(path_type=Path), help="The trained teacher (.keras, .h5).")
@click.option("--student", required=True, type=click.Path(path_type=Path),
              help="The student to train (any architecture with the teacher's output shape).")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="TRAIN.npz with x, y (integer labels), optionally x_test, y_test (else 10% is held out).")
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path),
              help="Where to save the distilled student (.keras).")
@click.option("--temperature", type=click.FloatRange(0.0, 100.0, min_open=True), default=4.0, show_default=True,
              help="Softmax temperature of the soft targets.")
@click.option("--alpha", type=click.FloatRange(0.0, 1.0), default=0.7, show_default=True,
              help="Weight of the soft-target term (1 - alpha weights the hard labels).")
@click.option("--epochs", type=click.FloatRange(0.0, 1000.0), default=5.0, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 65536), default=64, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(0.0, 10.0, min_open=True), default=1e-3, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Batch order (and the held-out split).")
@click.option("--hint", "hints", multiple=True, metavar="TEACHER_LAYER=STUDENT_LAYER",
              help="Also match a student layer's output to a teacher layer's (FitNets; repeatable).")
@click.option("--hint-weight", type=click.FloatRange(0.0), default=0.5, show_default=True,
              help="Weight of each hint's mean squared error.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def command(teacher, student, data, out, temperature, alpha, epochs, batch_size, learning_rate, seed,
            hints, hint_weight, as_json):
    """Train STUDENT on the labels and on TEACHER's softened outputs (Hinton et al. 2015)."""
    from rich.console import Console

    from ..api import distill as run

    err = Console(stderr=True, quiet=as_json)

    def progress(phase, epoch, epochs_, loss, acc):
        err.print(f"[bold]distill[/bold] {phase}: epoch {epoch}/{epochs_} loss {loss:.4f} "
                  f"held-out accuracy {acc:.2%}")

    r = run(teacher, student, data, out, temperature=temperature, alpha=alpha, epochs=epochs,
            batch_size=batch_size, learning_rate=learning_rate, seed=seed, hints=hints,
            hint_weight=hint_weight, progress=progress)
    if as_json:
        click.echo(json.dumps(r.to_json(), sort_keys=True))
        return
    alone = r.student_alone_accuracy
    click.echo(f"teacher   {r.teacher_params:>9,} params  {r.teacher_accuracy:.2%}")
    click.echo(f"student   {r.student_params:>9,} params  {alone:.2%} trained alone")
    click.echo(f"distilled {r.student_params:>9,} params  {r.distilled_accuracy:.2%} "
               f"({100 * (r.distilled_accuracy - alone):+.2f} pp), "
               f"on {r.test_samples} held-out samples")
    click.echo(f"teacher logits: {r.teacher_logits}")
    click.echo(f"saved {out}")
