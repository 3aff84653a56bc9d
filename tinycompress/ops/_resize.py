"""What RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR share: the checks of their 4-D input, the
constant size operand [new_height, new_width] and the options."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movers import (check_activation_input, check_arity, check_const_ints, check_data,
                      check_rank, check_shape, const_ints)


def check_resize(op: Op, g: Graph, dtypes) -> list[str]:
    problems = check_arity(op, 2)
    if problems:
        return problems
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    problems = check_data(op, g, [x.name, y.name], dtypes) + check_activation_input(op, x)
    problems += check_rank(op, x, (4,)) + check_const_ints(op, g, 1, "size", (2,))
    if problems:
        return problems
    size = const_ints(op, g, 1)
    if min(size) < 1:
        return [f"{op.describe()}: size {size} must be positive"]
    return check_shape(op, y, [x.shape[0], size[0], size[1], x.shape[3]])


def options(op: Op) -> tuple[bool, bool]:
    """(align_corners, half_pixel_centers)."""
    return bool(op.options.get("align_corners")), bool(op.options.get("half_pixel_centers"))
