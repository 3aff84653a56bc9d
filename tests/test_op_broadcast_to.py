"""BROADCAST_TO: bit-exact against the reference interpreter over ranks 1-8, broadcasts along any
dimension and to added leading dimensions (int32 and int64 shape operands), int8 (any
quantisation, also unlike the output's), int16 and int32; every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from test_op_tile import wide
from tflite_builder import T, model


# TFLite registers BROADCAST_TO from version 2 (the converter's first); version 1 is unused.
def broadcast_model(shape, to, dtype="int8", sdtype="int32", q=(0.05, -3), qo=None,
                    const_shape=True, out=None):
    scale = None if dtype == "int32" else q[0]
    so, zo = qo if qo is not None else q
    s = np.array(to, sdtype)
    return model("BROADCAST_TO", [T(shape, dtype, scale=scale, zero_point=q[1]),
                                  T(s.shape, sdtype, data=s if const_shape else None)],
                 [T(tuple(out or to), dtype, scale=None if dtype == "int32" else so,
                    zero_point=zo)], version=2)


CASES = [
    ((1, 1, 1, 8), (1, 4, 4, 8)),          # a pixel over the image
    ((1, 4, 4, 1), (1, 4, 4, 6)),          # channels
    ((8,), (3, 5, 8)),                     # added leading dimensions
    ((3, 1), (2, 3, 4)),
    ((1,), (7,)),
    ((2, 3), (2, 3)),                      # identity
    ((1, 2, 1, 3, 1), (2, 2, 3, 3, 2)),
    ((2, 1, 2), (1, 1, 1, 1, 1, 2, 3, 2)),  # rank 8
]


@pytest.mark.parametrize("sdtype", ["int32", "int64"])
@pytest.mark.parametrize("shape,to", CASES)
def test_broadcast_to(shape, to, sdtype):
    assert_bit_exact(broadcast_model(shape, to, sdtype=sdtype), spread={"min_distinct": 16})


@pytest.mark.parametrize("q,qo", [((0.05, -128), (0.05, -128)), ((0.2, 127), (0.2, 127)),
                                  ((0.05, 3), (0.7, -20))])
def test_broadcast_to_quantisation_is_not_touched(q, qo):
    # The reference copies the raw values whatever the two quantisations are.
    assert_bit_exact(broadcast_model((1, 3, 1, 4), (2, 3, 5, 4), q=q, qo=qo), spread={})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_broadcast_to_wider_types(dtype):
    shape = (3, 1, 5)
    assert_bit_exact(broadcast_model(shape, (2, 3, 4, 5), dtype, q=(0.01, 0)),
                     inputs=wide(shape, dtype), spread={})


def test_broadcast_to_refusals():
    cases = [
        (broadcast_model((1, 2), (3, 2), const_shape=False),
         "shape operand 'in1' is computed at run time"),
        (broadcast_model((1, 2), (3, 2), sdtype="int16"), "is int16; int32 or int64"),
        (broadcast_model((2, 2), (3, 2)), "input shape [2, 2] cannot be broadcast to [3, 2]"),
        (broadcast_model((1, 2), (-1, 2), out=(1, 2)), "cannot be broadcast to [-1, 2]"),
        (broadcast_model((1, 2, 2), (2, 2)), "shape [2, 2] has rank 2; it must be at least the "
                                             "input's (3)"),
        (broadcast_model((1, 2), (3, 2), out=(3, 3)), "output 'out0' has shape [3, 3], "
                                                      "expected [3, 2]"),
        (broadcast_model((2, 3), (2, 3), dtype="float32"),
         "is float32; supported: int8, int16, int32"),
        (model("BROADCAST_TO", [T((1, 2), scale=0.1),
                                T((1, 2), "int32", data=np.array([[3, 2]], np.int32))],
               [T((3, 2), scale=0.1)], version=2), "a 1-D tensor expected"),
        (model("BROADCAST_TO", [T((1, 2), scale=0.1, data=np.array([[1, 2]], np.int8)),
                                T((2,), "int32", data=np.array([3, 2], np.int32))],
               [T((3, 2), scale=0.1)], version=2), "input 'in0' is a constant"),
        (model("BROADCAST_TO", [T((1,) * 9, scale=0.1),
                                T((9,), "int32", data=np.ones(9, np.int32))],
               [T((1,) * 9, scale=0.1)], version=2), "rank 9; supported: 1 to 8"),
        (model("BROADCAST_TO", [T((2,), scale=0.1),
                                T((2,), "int32", data=np.array([2, 2], np.int32))],
               [T((2, 2), "int16", scale=0.1)], version=2),
         "tensor 'out0' is int16, the input 'in0' int8"),
        (model("BROADCAST_TO", [T((2,), scale=0.1)], [T((2,), scale=0.1)], version=2),
         "expected 2 inputs and 1 output(s), got 1 and 1"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("BROADCAST_TO (op 0") for p in problems), \
            (message, problems)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 5), extra=st.integers(0, 2), zp=st.integers(-128, 127))
def test_broadcast_to_random(data, rank, extra, zp):
    to = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank + extra,
                                  max_size=rank + extra)))
    ones = data.draw(st.lists(st.booleans(), min_size=rank, max_size=rank))
    shape = tuple(1 if one else d for one, d in zip(ones, to[extra:]))
    assert_bit_exact(broadcast_model(shape, to, q=(0.1, zp)), count=4, sanitize=False)
