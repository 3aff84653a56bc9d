"""`tinycompress check OUTDIR --board B`: does the model fit the board and the budgets?"""

from __future__ import annotations

import json

import click


def _fmt(value: float, unit: str) -> str:
    from ..check import human_bytes
    return human_bytes(value) if unit == "bytes" else f"{value:.3f} ms"


@click.command("check")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=str))
@click.option("--board", "-b", required=True, help="Board name (see `tinycompress boards`).")
@click.option("--max-flash", help="Flash budget, e.g. 256K or 1M.")
@click.option("--max-ram", help="RAM budget (static + stack), e.g. 64K.")
@click.option("--max-latency-ms", type=float, help="Latency budget per inference (estimate).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def command(ctx, outdir, board, max_flash, max_ram, max_latency_ms, as_json):
    """Compare measured flash, RAM and estimated latency with the board and budgets.

    Uses the figures that `verify --target qemu` stored in OUTDIR/manifest.json; measures them
    with QEMU first if none are stored; when the image is too big to link for the QEMU machine,
    uses the model's compile-time figures. Exits 1 when anything is over.
    """
    from ..api import check as run

    result = run(outdir, board, max_flash=max_flash, max_ram=max_ram,
                 max_latency_ms=max_latency_ms)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        _print(result)
    if not result.ok:
        ctx.exit(1)


def _print(result) -> None:
    """The check as a table, its notes and the verdict."""
    from rich.console import Console
    from rich.table import Table

    from ..boards import get_board

    b = get_board(result.board)
    t = Table(title=f"{b.title} ({b.core}, {b.clock_hz / 1e6:g} MHz)", title_justify="left")
    for col, just in (("check", "left"), ("measured", "right"), ("limit", "right"),
                      ("limit from", "left"), ("result", "left")):
        t.add_column(col, justify=just)
    for i in result.checks:
        if i.over:
            pct = f" ({-i.margin / i.limit:.1%})" if i.limit else ""
            verdict = f"[bold red]OVER by {_fmt(-i.margin, i.unit)}{pct}[/]"
        else:
            verdict = f"[green]ok[/], {_fmt(i.margin, i.unit)} spare"
        name = i.name + (" (estimate)" if i.estimate else "")
        t.add_row(name, _fmt(i.measured, i.unit), _fmt(i.limit, i.unit), i.limit_source, verdict)
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    console.print(t)
    m = result.measurement
    if result.latency_ms_estimate is not None:
        console.print(f"latency (estimate): {result.latency_ms_estimate:.3f} ms per inference",
                      highlight=False)
    for note in result.notes:
        console.print(f"  {note}", highlight=False, soft_wrap=True)
    if result.measured_now:
        console.print(f"  measured now on QEMU {m['machine']}; stored in manifest.json",
                      highlight=False)
    if result.ok:
        console.print("[bold green]fits[/]")
    elif result.link_error and not any(i.over for i in result.checks):
        console.print(f"[bold red]does not fit[/]: the image could not be linked for QEMU "
                      f"{m['machine']}", highlight=False)
    else:
        console.print("[bold red]does not fit[/]")
