"""`tinycompress report`: one self-contained HTML page about a compiled OUTDIR, viewable offline
(inline SVG plots and CSS, no script, nothing fetched), from its manifest.json alone.

    result = build_report("out/kws", board="nucleo-f446re", png=True)
    write_report(result, "report.html", png_dir="plots")

The same OUTDIR (and board) gives the same bytes."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError


@dataclass
class Page:
    html: str
    pngs: dict[str, bytes] = field(default_factory=dict)  # figure name -> PNG (when asked for)
    figures: list[str] = field(default_factory=list)  # figure names, in page order


def _matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("tinycompress report needs matplotlib: pip install "
                        "'tinycompress[plots]'") from None


def build_report(outdir: Path | str, board: str | None = None, png: bool = False,
                 max_latency_ms: float | None = None) -> Page:
    """The report of a compiled OUTDIR: per-layer MACs, parameter bytes, instructions (when
    measured), the memory plan, the compression waterfall and sparsity (compressed --weights),
    and budget bars against `board` (default: the board OUTDIR was compiled for)."""
    _matplotlib()
    from ..compiler import read_manifest
    from .budget import budget as board_budget
    from .data import report_data
    from .page import plot_list, render_page
    from .render import png as to_png, svg

    if max_latency_ms is not None and max_latency_ms <= 0:
        raise UserError(f"--max-latency-ms {max_latency_ms:g} must be positive")
    if board is not None:
        from ..boards import get_board

        board = get_board(board).name  # refused before any work when unknown
    manifest = read_manifest(Path(outdir))
    data = report_data(manifest, board)
    b = board_budget(Path(outdir), manifest, board, max_latency_ms)
    plots = plot_list(data, b)
    for p in plots:
        p.svg = svg(p.figure, p.key)
    pngs = {p.key: to_png(p.figure) for p in plots} if png else {}
    return Page(html=render_page(data, b, plots), pngs=pngs,
                        figures=[p.key for p in plots])


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_report(result: Page, html_path: Path | str,
                 png_dir: Path | str | None = None) -> list[Path]:
    """Write the page (and the PNGs into png_dir, as <figure>.png); the paths written."""
    html_path = Path(html_path)
    if html_path.is_dir():
        raise UserError(f"-o {html_path} is a directory: give a file name such as report.html")
    if png_dir is not None and Path(png_dir).exists() and not Path(png_dir).is_dir():
        raise UserError(f"--png {png_dir} exists and is not a directory: choose another")
    written = []
    if png_dir is not None:
        for key, data in result.pngs.items():
            path = Path(png_dir) / f"{key}.png"
            _atomic_write(path, data)
            written.append(path)
    _atomic_write(html_path, result.html.encode())
    return [html_path] + written
