"""tinycompress demo: the built-in default job on Fashion-MNIST."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..demo import DEFAULT_BOARD


@click.command("demo")
@click.option("-o", "--workdir", type=click.Path(path_type=Path), default=Path("tinycompress-demo"),
              show_default=True, help="Where the models, data and generated C go.")
@click.option("--epochs", type=click.IntRange(1, 100), default=2, show_default=True,
              help="Training epochs of the float LeNet-5.")
@click.option("--compress-epochs", type=click.FloatRange(0.1, 100), default=2.0, show_default=True,
              help="Fine-tuning epochs while pruning (half as many while sharing weights).")
@click.option("--vectors", type=click.IntRange(1, 10000), default=10000, show_default=True,
              help="Test images to verify on (the Fashion-MNIST test set has 10000).")
@click.option("--board", default=DEFAULT_BOARD, show_default=True,
              help="Run the compressed C under QEMU for this board and check it fits ('' to skip).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
@click.pass_context
def command(ctx, workdir, epochs, compress_epochs, vectors, board, as_json):
    """Train a LeNet-5 on Fashion-MNIST, Deep-Compress it, compile it to C, verify it
    bit-exactly and check it against a board."""
    from rich.console import Console
    from rich.table import Table

    from ..demo import run

    err = Console(stderr=True)
    summary = run(workdir, epochs=epochs, vectors=vectors, board=board or None,
                  compress_epochs=compress_epochs,
                  progress=lambda msg: err.print(f"[bold]tinycompress[/bold] {msg}"))
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        d = summary["dense"]
        t = Table(title="tinycompress demo: LeNet-5 / Fashion-MNIST")
        for col in ("", "weights", "accuracy", "bit-exact"):
            t.add_column(col, justify="left" if not col else "right")
        t.add_row("float32 Keras", f"{summary['float32_weights_bytes']:,} B",
                  f"{100 * summary['float_accuracy']:.2f}%", "-")
        t.add_row("INT8 C, dense (c-dense/)", f"{d['weights_bytes']:,} B", f"{100 * d['accuracy']:.2f}%",
                  "yes" if d["bit_exact"] else "NO")
        t.add_row(f"Deep Compression C (c/), {summary['kept']:.1%} kept",
                  f"{summary['weights_bytes']:,} B ({summary['ratio']:.1f}x)",
                  f"{100 * summary['int8_c_accuracy']:.2f}%",
                  "yes" if summary["bit_exact"] else "NO")
        Console().print(t)
        s = Table(show_header=False)
        s.add_row("compressed C", summary["outdir"])
        s.add_row("verified", f"{summary['vectors']} test images on the host, "
                              f"{summary['mismatches']} mismatches")
        s.add_row("MACs / inference", f"{summary['macs']:,}")
        s.add_row("flash (code + weights)", f"{summary['flash_bytes']:,} B")
        s.add_row("RAM (arena)", f"{summary['arena_bytes']:,} B")
        if "qemu" in summary:
            q, c = summary["qemu"], summary["check"]
            s.add_row(f"QEMU for {q['board']}", f"bit-exact {'yes' if q['bit_exact'] else 'NO'} on "
                      f"{q['vectors']} images, {q.get('instructions_per_inference', 0):,} instructions")
            s.add_row(f"fits {c['board']}", f"{'yes' if c['fits'] else 'NO'}: flash "
                      f"{c['flash']['measured']:,.0f} of {c['flash']['limit']:,.0f} B, RAM "
                      f"{c['ram']['measured']:,.0f} of {c['ram']['limit']:,.0f} B, about "
                      f"{c['latency_ms_estimate']:.1f} ms (estimate)")
        Console().print(s)
    ctx.exit(0 if summary["bit_exact"] else 1)
