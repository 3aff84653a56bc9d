"""Figures to bytes, reproducibly: inline SVG (text kept as text, ids prefixed with the figure's
name so that several SVGs share a page without clashing ids) and PNG. The same figure gives the
same bytes: a fixed SVG hash salt, no date or software metadata."""

from __future__ import annotations

import io
import re

import matplotlib
from matplotlib.figure import Figure

SVG_RC = {"svg.hashsalt": "tinycompress", "svg.fonttype": "none", "font.family": "DejaVu Sans"}
PNG_DPI = 120


def svg(fig: Figure, prefix: str) -> str:
    """The figure as an <svg> element to inline in HTML, every id prefixed with `prefix`-."""
    buf = io.StringIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # no XML declaration or DOCTYPE inside HTML
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = text.replace("url(#", f"url(#{prefix}-").replace('href="#', f'href="#{prefix}-')
    return text.strip() + "\n"


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buf.getvalue()
