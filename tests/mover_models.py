"""What the tests of the copy-nest movers (SPACE_TO_DEPTH, DEPTH_TO_SPACE, BATCH_TO_SPACE_ND,
SPACE_TO_BATCH_ND) share: their one-operator models and the refusal check."""

from __future__ import annotations

import numpy as np

from optest import compile_problems
from tflite_builder import T, model


def data_tensors(shape, out, dtype: str, q, qo=None) -> tuple[T, T]:
    """The data input (quantised `q`) and output (`qo`, default `q`); int32 not quantised."""
    so, zo = qo if qo is not None else q
    quantised = dtype != "int32"
    return (T(tuple(shape), dtype, scale=q[0] if quantised else None, zero_point=q[1]),
            T(tuple(out), dtype, scale=so if quantised else None, zero_point=zo))


def block_size_model(kind: str, shape, out, block, dtype="int8", q=(0.05, -3), qo=None) -> bytes:
    """SPACE_TO_DEPTH or DEPTH_TO_SPACE of `shape` into `out`."""
    x, y = data_tensors(shape, out, dtype, q, qo)
    return model(kind, [x], [y], {"block_size": block})


def space_batch_model(kind: str, shape, block, amounts, out, dtype="int8", q=(0.05, -3), qo=None,
                      const_block=True, const_amounts=True) -> bytes:
    """BATCH_TO_SPACE_ND (amounts: crops) or SPACE_TO_BATCH_ND (paddings) of `shape` into `out`;
    `amounts` is a numpy [spatial, 2] int32 array."""
    x, y = data_tensors(shape, out, dtype, q, qo)
    b = np.array(block, np.int32)
    return model(kind, [x, T(b.shape, "int32", data=b if const_block else None),
                        T(amounts.shape, "int32", data=amounts if const_amounts else None)], [y])


def assert_refused(kind: str, cases) -> None:
    """Every (tflite, message) of `cases` is refused with a problem naming op 0 of `kind` and
    containing `message`."""
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith(f"{kind} (op 0") for p in problems), \
            (message, problems)
