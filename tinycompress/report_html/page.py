"""The report page: which figures it holds (sections) and the HTML around them, rendered with the
Jinja2 template templates/report/report.html.j2 (autoescaped; CSS inline, no script)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jinja2
from matplotlib.figure import Figure

from .. import __version__
from ..emit import templates_dir
from . import plots
from .budget import Budget
from .data import ReportData


@dataclass
class Plot:
    key: str  # the figure's name: its SVG ids' prefix and its PNG file's stem
    figure: Figure
    svg: str = ""


def plot_list(data: ReportData, budget: Budget | None) -> list[Plot]:
    """The report's figures, in page order; a figure whose data the manifest lacks is left out."""
    rows = data.layers
    if not rows:
        return [Plot("budget", plots.budget_bars(budget))] if budget is not None else []
    out = [Plot("macs", plots.layer_bars(rows, [r.macs for r in rows],
                                         "multiply-accumulates per layer", "MACs"))]
    out.append(Plot("params", plots.layer_bars(
        rows, [r.weights_bytes for r in rows], "parameter bytes per layer (flash; dashed: dense)"
        if data.compressed else "parameter bytes per layer (flash)", "bytes",
        outline=[r.dense_weights_bytes for r in rows] if data.compressed else None)))
    if data.instructions_board is not None:
        out.append(Plot("instructions", plots.layer_bars(
            rows, [r.instructions for r in rows],
            f"instructions per layer on {data.instructions_board} (QEMU)", "instructions")))
    if data.buffers:
        out.append(Plot("memory", plots.memory_plan(data)))
    if data.compressed:
        out.append(Plot("waterfall", plots.waterfall(data)))
    weighted = data.weight_layers
    if weighted:
        out.append(Plot("sparsity", plots.layer_bars(
            weighted, [100 * r.sparsity for r in weighted], "sparsity per layer "
            "(zero weights, % of the layer's weights)", "% zero", top=100)))
    if budget is not None:
        out.append(Plot("budget", plots.budget_bars(budget)))
    return out


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "report")),
                             undefined=jinja2.StrictUndefined, autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["thousands"] = lambda v: "-" if v is None else f"{v:,}"
    env.filters["nbytes"] = plots.nbytes
    return env


def render_page(data: ReportData, budget: Budget | None, figures: list[Plot]) -> str:
    return environment().get_template("report.html.j2").render(
        m=data.manifest, data=data, budget=budget, svgs={p.key: p.svg for p in figures},
        version=__version__)
