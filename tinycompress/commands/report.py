"""`tinycompress report OUTDIR -o report.html [--png DIR] [--board B]`: a self-contained HTML
page with the compiled model's plots."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("report")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--output", "html", required=True, type=click.Path(path_type=Path),
              help="The HTML page to write (self-contained: viewable offline).")
@click.option("--png", "png_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write every plot as DIR/<figure>.png.")
@click.option("--board", "-b", help="Budget bars against this board (default: the board OUTDIR "
                                    "was compiled for; none without either).")
@click.option("--max-latency-ms", type=float,
              help="A latency budget for the bars (needs a QEMU measurement of the board).")
@click.option("--json", "as_json", is_flag=True, help="Print the files written and figures as JSON.")
def command(outdir, html, png_dir, board, max_latency_ms, as_json):
    """Plots of OUTDIR's manifest: per-layer MACs, parameter bytes and instructions, the memory
    plan, the compression waterfall and sparsity, and the board budget."""
    from ..api import report

    result = report(outdir, html, png_dir=png_dir, board=board, max_latency_ms=max_latency_ms)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
        return
    click.echo(f"wrote {html} ({len(result.figures)} plots: {', '.join(result.figures)})")
    if png_dir is not None:
        click.echo(f"wrote {len(result.pngs)} PNG files to {png_dir}")
