"""ZEROS_LIKE int32: bit-exact against the reference interpreter (all zeros, whatever the
input); int8 and int16, which the reference fails on, refused."""

import numpy as np
import pytest

from optest import assert_bit_exact, compile_problems
from test_op_tile import wide
from tflite_builder import T, model
from tinycompress.reference import Reference


@pytest.mark.parametrize("shape", [(1,), (3, 4), (2, 3, 4, 5)])
def test_zeros_like(shape):
    m = model("ZEROS_LIKE", [T(shape, "int32")], [T(shape, "int32")])
    xs = wide(shape, "int32", count=4)
    assert len(np.unique(xs[0])) > 1  # the input varies; the output must not
    assert_bit_exact(m, inputs=xs)
    assert not Reference(m).run([xs[0][0]])[0].any()


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_zeros_like_refuses_quantised_types(dtype):
    m = model("ZEROS_LIKE", [T((4,), dtype, scale=0.1)], [T((4,), dtype, scale=0.1)])
    problems = compile_problems(m)
    assert any(p.startswith("ZEROS_LIKE (op 0") and f"is {dtype}; supported: int32" in p
               for p in problems), problems


def test_zeros_like_refuses_a_constant_input():
    m = model("ZEROS_LIKE", [T((4,), "int32", data=np.ones(4, np.int32))], [T((4,), "int32")])
    assert any("constant input 'in0' (the converter folds ZEROS_LIKE of a constant)" in p
               for p in compile_problems(m))
