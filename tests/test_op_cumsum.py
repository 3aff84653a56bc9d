"""CUMSUM int32: bit-exact against the reference interpreter over ranks, axes (negative too),
exclusive and reverse, with sums that overflow int32 (wrapping as the reference); refusals."""

import numpy as np
import pytest

from optest import assert_bit_exact, compile_problems
from test_op_tile import wide
from tflite_builder import T, model


def cumsum_model(shape, axis, exclusive=False, reverse=False, dtype="int32", adtype="int32",
                 out=None, const_axis=True):
    q = {} if dtype == "int32" else dict(scale=0.1, zero_point=0)
    a = np.array(axis, adtype)
    return model("CUMSUM", [T(shape, dtype, **q), T((), adtype, data=a if const_axis else None)],
                 [T(out or shape, dtype, **q)], {"exclusive": exclusive, "reverse": reverse})


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shape,axis", [((1, 12), 1), ((3, 4, 5), 1), ((3, 4, 5), -1),
                                        ((3, 4, 5), 0), ((2, 3, 2, 4), 2), ((7,), 0)])
def test_cumsum(shape, axis, exclusive, reverse):
    n = int(np.prod(shape))
    x = [np.random.default_rng(0).integers(-1000, 1000, (8, n)).astype(np.int32)]
    assert_bit_exact(cumsum_model(shape, axis, exclusive, reverse), inputs=x, spread={})


def test_cumsum_wraps():
    """Sums of values spanning int32 overflow; the reference's int32 wraps, so does the C."""
    shape = (4, 6)
    assert_bit_exact(cumsum_model(shape, 1), inputs=wide(shape, "int32"), spread={})


def test_cumsum_refusals():
    cases = [
        (cumsum_model((4,), 0, dtype="int8"), "tensor 'in0' is int8; supported: int32"),
        (cumsum_model((4,), 0, const_axis=False), "axis operand 'in1' is computed at run time"),
        (cumsum_model((4,), 0, adtype="int64"), "must be one int32 value"),
        (cumsum_model((4, 2), 2), "axis 2 out of range for rank 2"),
        (cumsum_model((4, 2), 1, out=(4, 3)), "output 'out0' has shape [4, 3], expected [4, 2]"),
        (model("CUMSUM", [T((4,), "int32")], [T((4,), "int32")]),
         "expected 2 inputs and 1 output(s), got 1 and 1"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("CUMSUM (op 0") for p in problems), \
            (message, problems)
