"""Bringing a candidate to the flash budget before anything is trained.

A sampled candidate says how the layers share the pruning (their sparsities relative to one
another) and their bits; its absolute level is set here: every large layer's kept fraction is
scaled by one factor (a small layer keeps its sampled sparsity: it costs few bytes, and pruning
it as hard as the large ones would cost accuracy for nothing) until the probe's flash is just
under the budget (weights cost about the same bytes each, so flash is close to linear in the
factor; a few probes settle it). Keeping as many weights
as the budget allows loses the least accuracy; the search then spends fine-tuning only on
candidates that fit.

``probe`` is any ``Candidate -> (Figures, payload)``: compiling the candidate untrained
(:func:`tinycompress.fit.measure.probe_at`) is exact; a cost model can stand in for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tinycompress.fit.space import Candidate

MAX_SPARSITY = 0.99
TARGET = 0.97      # aim at this fraction of the flash budget (Huffman streams vary after training)
TOLERANCE = 0.03   # a probe within [TARGET - TOLERANCE, 1] x budget is taken as it is
PROBES = 6         # probes seconds each; a fine-tuning takes minutes


def scaled(cand: Candidate, factor: float, keep: frozenset[str] = frozenset()) -> Candidate:
    """Every layer keeps ``factor`` times the weights it kept, but those in ``keep`` (small
    layers: shrinking them saves few bytes and costs accuracy) keep their sparsity."""
    s = {k: v if k in keep else min(MAX_SPARSITY, max(0.0, 1.0 - factor * (1.0 - v)))
         for k, v in cand.sparsity.items()}
    return replace(cand, sparsity=s)


def _next_factor(points: list[tuple[float, object]], goal: float) -> float:
    """The factor whose flash should be ``goal``: once probes lie on both sides of it, the secant
    through the closest one on each side (so an overshoot is not answered by a far smaller
    probe); before that the secant through the last two, or, after one, a line through the
    non-weight bytes (code, firmware, biases stay)."""
    under = [p for p in points if p[1].flash_bytes <= goal]
    over = [p for p in points if p[1].flash_bytes > goal]
    if under and over:
        pair = [max(under, key=lambda p: p[1].flash_bytes), min(over, key=lambda p: p[1].flash_bytes)]
    else:
        pair = points[-2:]
    (f1, g1) = pair[-1]
    if len(pair) > 1:
        f0, g0 = pair[0]
        slope = (g1.flash_bytes - g0.flash_bytes) / (f1 - f0) if f1 != f0 else 0.0
        if slope > 0:
            return max(1e-3, f1 + (goal - g1.flash_bytes) / slope)
    fixed = g1.flash_bytes - g1.weights_bytes
    room = goal - fixed
    return f1 * (room / g1.weights_bytes if room > 0 and g1.weights_bytes else 0.5)


def to_flash_budget(cand: Candidate, probe: Callable, max_flash: int | None, expand: float = 1.0,
                    log=None, keep: frozenset[str] = frozenset()):
    """(candidate, figures, payload): the candidate scaled to just under ``max_flash``, or the
    closest probed one when none fits (its figures say by how much). ``expand``: how much larger
    a fine-tuned candidate's flash is than its probe's (the study's trials so far tell). ``keep``:
    layers not scaled (their sampled sparsity is final)."""
    fig, payload = probe(cand)
    if max_flash is None:
        return cand, fig, payload
    goal, top = TARGET * max_flash / expand, max_flash / expand
    tried = [(cand, fig, payload)]
    points = [(1.0, fig)]
    for _ in range(PROBES - 1):
        if (TARGET - TOLERANCE) * top <= fig.flash_bytes <= top:
            break
        factor = _next_factor(points, goal)
        nxt = scaled(tried[0][0], factor, keep)
        if nxt == tried[-1][0]:
            break  # every layer at its limit
        fig, payload = probe(nxt)
        if log is not None:
            log(f"  scaled to {fig.flash_bytes:,} B flash (kept x{factor:.3f})")
        tried.append((nxt, fig, payload))
        points.append((factor, fig))
    fits = [t for t in tried if t[1].flash_bytes <= top]
    if fits:
        return max(fits, key=lambda t: t[1].flash_bytes)
    return min(tried, key=lambda t: t[1].flash_bytes)
