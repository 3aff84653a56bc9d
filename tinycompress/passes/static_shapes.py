"""Make the graph static with batch 1.

Keras 3 `Flatten` converts to a dynamic-batch chain SHAPE -> STRIDED_SLICE -> PACK feeding the
shape operand of RESHAPE. With the batch fixed to 1 every shape is known, so RESHAPE takes its
output shape from its output tensor, its shape operand is dropped, and the now dead shape-computing
ops disappear. A shape operand that is a constant is checked against the static output shape."""

from __future__ import annotations

import math

from ..errors import UnsupportedModelError
from ..ir import Graph
from . import PassSpec

SPEC = PassSpec("static_shapes", "drops RESHAPE's shape operand and the dead SHAPE/STRIDED_SLICE/"
                "PACK chain that computed it", ("RESHAPE", "SHAPE"))

RESHAPE_LIKE = ("RESHAPE",)


def apply(g: Graph) -> None:
    problems = []
    for op in g.ops:
        if op.kind not in RESHAPE_LIKE or len(op.inputs) < 2 or not op.inputs[1]:
            continue
        if not op.inputs[0] or len(op.outputs) != 1:
            continue  # not a RESHAPE the lowering accepts: its check says why
        shape_t = g.tensors[op.inputs[1]]
        out = g.tensors[op.outputs[0]]
        if shape_t.is_const and shape_t.dtype not in ("int32", "int64"):
            problems.append(f"{op.describe()}: shape operand '{shape_t.name}' is "
                            f"{shape_t.dtype}; int32 expected")
        elif shape_t.is_const:
            want = [int(d) for d in shape_t.data.reshape(-1)]
            if -1 in want:
                known = math.prod(d for d in want if d != -1) or 1
                want[want.index(-1)] = g.tensors[op.inputs[0]].size // known
            if math.prod(want) != out.size:
                problems.append(f"{op.describe()}: shape operand {want} does not match output "
                                f"shape {list(out.shape)}")
        op.inputs = op.inputs[:1]
        op.options.pop("new_shape", None)
    if problems:
        raise UnsupportedModelError(problems)
    g.remove_dead()
