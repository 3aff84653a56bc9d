"""What SPACE_TO_DEPTH and DEPTH_TO_SPACE share: their element types (the reference moves int8
and int32, and refuses int16) and the checks before the shapes, which differ (one divides the
height and width by block_size, the other the channels by its square)."""

from __future__ import annotations

from ..ir import Graph, Op, Tensor
from ._movers import check_mover, check_rank

DTYPES = ("int8", "int32")


def check_block_op(op: Op, g: Graph) -> tuple[list[str], Tensor | None, Tensor | None, int]:
    """(problems, input, output, block_size): one 4-D input computed at run time, of DTYPES
    like the output, and a positive integer block_size."""
    problems, x, y = check_mover(op, g, 1, DTYPES)
    if x is None:
        return problems, x, y, 0
    problems += check_rank(op, x, (4,))
    b = op.options.get("block_size")
    if not isinstance(b, int) or b < 1:
        problems.append(f"{op.describe()}: block_size {b!r} is not a positive integer")
    return problems, x, y, b
