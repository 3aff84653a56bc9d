"""tinycompress verify OUTDIR"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..verify import TARGETS


@click.command("verify")
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("--target", type=click.Choice(TARGETS), default="host", show_default=True)
@click.option("--board", help="Board for --target qemu (see 'tinycompress boards').")
@click.option("--vectors", "count", type=int, default=100, show_default=True,
              help="Number of input vectors (with --data: the first N, 0 for all).")
@click.option("--data", type=click.Path(path_type=Path),
              help="DATA.npz with x (inputs; x0, x1, ... for a model of several) and optionally y "
                   "(labels, for accuracy).")
@click.option("--sanitize", is_flag=True, help="Host: build with -fsanitize=address,undefined.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
@click.pass_context
def command(ctx, outdir, target, board, count, data, sanitize, as_json):
    """Check the generated C in OUTDIR bit-exactly against the TFLite reference interpreter.

    Exit 0 when every output byte matches, 1 on any mismatch, 2 on bad input."""
    from ..api import verify as run

    result = run(outdir, target=target, vectors=count, data=data, board=board, sanitize=sanitize)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
    else:
        from ..report import print_verify_summary

        print_verify_summary(result.to_json())
    ctx.exit(0 if result.bit_exact else 1)
