"""The report's plots as matplotlib figures (object-oriented API, no pyplot state). Every plotted
bar or rectangle carries an SVG id (`set_gid`) naming what it shows, so a test can find it in the
page and compare its size with manifest.json: per-layer bars `bar-<layer index>`, dense outlines
`dense-<layer index>`, memory plan buffers `buf-<row>`, waterfall stages `stage-<row>` and budget
items `item-<row>`; the plotting area (the axes' background) is `area`, and its data limits are
fixed (bars from zero; layer i centred on x = i) so that positions map back to numbers. render.py
prefixes every id with the figure's name."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from ..check import human_bytes
from .budget import Budget
from .data import LayerRow, ReportData

COLOR = "#3b6ea8"
LIGHT = "#c9d8ea"
OVER = "#c0392b"
MAX_TICK_LABELS = 40


def nbytes(v: float) -> str:
    """Bytes for a label: 512 B, 38.2 KiB, 1.50 MiB."""
    t = human_bytes(v)
    return t.replace(" K", " KiB").replace(" M", " MiB")


def _axes(fig: Figure):
    ax = fig.add_subplot()
    ax.patch.set_gid("area")
    ax.set_axisbelow(True)  # grid lines behind the bars
    return ax


def _width(n: int) -> float:
    return min(max(9.0, 0.38 * n + 2), 16.0)


def _layer_axis(ax, rows: list[LayerRow]) -> None:
    step = max(1, -(-len(rows) // MAX_TICK_LABELS))
    shown = rows[::step]
    ax.set_xticks([r.index for r in shown])
    ax.set_xticklabels([f"{r.index} {r.label[:16]}" for r in shown], rotation=60, ha="right",
                       fontsize=7)
    ax.set_xlim(min(r.index for r in rows) - 0.6, max(r.index for r in rows) + 0.6)
    ax.set_xlabel("layer")


def _count_axis(ax, axis: str = "y") -> None:
    """Whole numbers (bytes, MACs, instructions) with thousands separators."""
    fmt = FuncFormatter(lambda v, _: f"{int(v):,}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def layer_bars(rows: list[LayerRow], values: list[float], title: str, ylabel: str,
               outline: list[float] | None = None, top: float | None = None) -> Figure:
    """One bar per layer (`bar-<index>`), with an unfilled outline bar behind each when
    `outline` is given (`dense-<index>`: what a dense layer would take). The y axis counts from
    zero, up to `top` when given (a percentage)."""
    fig = Figure(figsize=(_width(len(rows)), 3.6), layout="constrained")
    ax = _axes(fig)
    if outline is not None:
        for r, v in zip(rows, outline):
            (b,) = ax.bar([r.index], [v], width=0.8, facecolor="none", edgecolor="#777777",
                          linestyle="--", linewidth=0.8)
            b.set_gid(f"dense-{r.index}")
    for r, v in zip(rows, values):
        (b,) = ax.bar([r.index], [v], width=0.8, color=COLOR)
        b.set_gid(f"bar-{r.index}")
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(ylabel)
    if top is not None:
        ax.set_ylim(0, top)  # a percentage
    else:
        _count_axis(ax)
    ax.grid(axis="y", linewidth=0.3)
    _layer_axis(ax, rows)
    return fig


def memory_plan(data: ReportData) -> Figure:
    """x = layer (time), y = arena offset: one rectangle per buffer over the layers it lives."""
    fig = Figure(figsize=(_width(len(data.layers)), 4.2), layout="constrained")
    ax = _axes(fig)
    arena = max(int(data.manifest["arena_bytes"]), 1)
    for i, b in enumerate(data.buffers):
        x0, w = b.first_layer - 0.4, b.last_layer - b.first_layer + 0.8
        rect = Rectangle((x0, b.offset), w, b.bytes, facecolor=LIGHT if b.kind == "scratch"
                         else COLOR, edgecolor="white", linewidth=0.6, alpha=0.9)
        rect.set_gid(f"buf-{i}")
        ax.add_patch(rect)
        if b.bytes >= 0.06 * arena:
            ax.text(x0 + w / 2, b.offset + b.bytes / 2, f"{b.label}\n{nbytes(b.bytes)}",
                    ha="center", va="center", fontsize=6,
                    color="black" if b.kind == "scratch" else "white")
    ax.set_ylim(0, arena)
    _count_axis(ax)
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title(f"memory plan: {len(data.buffers)} buffers in a {nbytes(arena)} arena "
                 "(dark: activations, light: scratch)", fontsize=10, loc="left")
    ax.grid(axis="y", linewidth=0.3)
    _layer_axis(ax, data.layers)
    return fig


def waterfall(data: ReportData) -> Figure:
    """The weight matrices' bytes at each stage; the hatched part is what the stage saved."""
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = _axes(fig)
    base = data.stages[0].bytes
    prev = None
    for i, st in enumerate(data.stages):
        if prev is not None and prev > st.bytes:
            ax.bar([i], [prev - st.bytes], bottom=[st.bytes], width=0.7, facecolor="none",
                   edgecolor="#999999", hatch="//", linewidth=0.5)
        (b,) = ax.bar([i], [st.bytes], width=0.7, color=COLOR)
        b.set_gid(f"stage-{i}")
        ratio = f"{base / st.bytes:.1f}x" if st.bytes else "-"
        ax.annotate(f"{nbytes(st.bytes)}\n{ratio}", (i, st.bytes), ha="center",
                    va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
        prev = st.bytes
    ax.set_xticks(range(len(data.stages)))
    ax.set_xticklabels([st.label for st in data.stages], fontsize=8)
    ax.set_ylim(0, base * 1.18)
    _count_axis(ax)
    ax.set_ylabel("weight bytes")
    ax.set_title("compression waterfall: weight matrices, float32 to the stored formats",
                 fontsize=10, loc="left")
    ax.grid(axis="y", linewidth=0.3)
    return fig


def budget_bars(b: Budget) -> Figure:
    """Each check item as a share of its limit; the line at 100% is the limit."""
    fig = Figure(figsize=(7.5, 0.7 + 0.55 * len(b.items)), layout="constrained")
    ax = _axes(fig)
    for i, item in enumerate(b.items):
        share = 100 * item.measured / item.limit if item.limit else 0.0
        (bar,) = ax.barh([i], [share], height=0.6, color=OVER if item.over else COLOR)
        bar.set_gid(f"item-{i}")
        ax.text(share + 1, i, _item_text(item), va="center", fontsize=7)
    ax.axvline(100, color="black", linewidth=0.8)
    ax.set_yticks(range(len(b.items)))
    ax.set_yticklabels([f"{it.name} ({it.limit_source})" for it in b.items], fontsize=8)
    ax.invert_yaxis()
    top = max([100.0] + [100 * it.measured / it.limit for it in b.items if it.limit])
    ax.set_xlim(0, top * 1.45)
    ax.set_xlabel("% of limit")
    ax.set_title(f"{b.board.name} ({b.board.core}, {b.board.clock_hz / 1e6:g} MHz): {b.source}",
                 fontsize=10, loc="left")
    return fig


def _item_text(item) -> str:
    if item.unit == "bytes":
        return f"{nbytes(item.measured)} of {nbytes(item.limit)}"
    return f"{item.measured:.3f} of {item.limit:g} ms (estimate)"
