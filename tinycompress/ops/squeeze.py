"""SQUEEZE (squeeze.cc): the input with axes of extent 1 removed; a view, so usually free.

`squeeze_dims` lists the axes to remove (negative: counted from the end; each must have extent 1);
empty, every axis of extent 1 goes. The data is unchanged: the planner aliases input and output
storage (planner.VIEW_OPS), and the kernel copies only when both are the caller's buffers."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movement import check_io_count, check_view, resolve_axis, view_kernel
from .base import Context, Kernel, Lowering, register


def squeezed(shape, dims) -> tuple[list[int] | None, str]:
    """(output shape, "") or (None, why the squeeze_dims are invalid)."""
    if not dims:
        return [d for d in shape if d != 1], ""
    drop = set()
    for d in dims:
        a = resolve_axis(int(d), len(shape))
        if a is None or shape[a] != 1:
            return None, (f"squeeze_dims {list(dims)} name axis {d}, which is not an axis of "
                          f"extent 1 of the input {list(shape)}")
        drop.add(a)
    return [d for k, d in enumerate(shape) if k not in drop], ""


@register
class Squeeze(Lowering):
    kind = "SQUEEZE"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_io_count(op, 1, 1)
        if problems:
            return problems
        want, why = squeezed(g.tensors[op.inputs[0]].shape, op.options.get("squeeze_dims") or [])
        if want is None:
            return [f"{op.describe()}: {why}"]
        return check_view(op, g, want)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        return view_kernel(op, g)
