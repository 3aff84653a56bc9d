"""NEG int8 and int16: bit-exact against the reference interpreter (the raw negation, the type's
minimum wrapping onto itself) over every int8 value, int16 extremes and shapes, and the refusal
of quantisations under which the raw negation is not the real one."""

import numpy as np
import pytest

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model


def neg_model(shape, q_in, q_out, dtype="int8"):
    return model("NEG", [T(shape, dtype, scale=q_in[0], zero_point=q_in[1])],
                 [T(shape, dtype, scale=q_out[0], zero_point=q_out[1])])


@pytest.mark.parametrize("zp", [0, 5, -127, 127])
def test_neg_int8_every_input(zp):
    b = neg_model((256,), (0.05, zp), (0.05, -zp))
    assert_bit_exact(b, inputs=[np.arange(-128, 128, dtype=np.int8).reshape(1, 256)], spread={})


@pytest.mark.parametrize("shape", [(1, 8, 8, 3), (5, 7), (1,)])
def test_neg_int8_shapes(shape):
    assert_bit_exact(neg_model(shape, (0.1, 0), (0.1, 0)))


def test_neg_int16():
    b = neg_model((1, 6, 6, 4), (0.001, 0), (0.001, 0), "int16")
    assert_bit_exact(b, spread={"min_distinct": 64})
    edges = [np.array([[-32768, -32767, -1, 0, 1, 32767]], np.int16)]
    assert_bit_exact(neg_model((6,), (0.001, 0), (0.001, 0), "int16"), inputs=edges)


def test_neg_refuses():
    assert compile_problems(neg_model((4,), (0.1, 3), (0.1, 3))) == [
        f"NEG (op 0, 'out0'): output quantised ({np.float32(0.1)}, 3); NEG negates the raw "
        f"values, which negates the real ones only for ({np.float32(0.1)}, -3) (the input's "
        "scale, its zero point negated)"]
    (problem,) = compile_problems(neg_model((4,), (0.1, 0), (0.2, 0), "int16"))
    assert "output quantised (" in problem and "NEG negates the raw values" in problem
    b = model("NEG", [T((4,), "int32")], [T((4,), "int32")])
    assert "NEG (op 0, 'out0'): tensor 'in0' is int32, expected int8 or int16" in \
        compile_problems(b)
    b = model("NEG", [T((4,), scale=0.1, data=np.arange(4, dtype=np.int8))], [T((4,), scale=0.1)])
    assert "NEG (op 0, 'out0'): constant input 'in0' is not supported" in compile_problems(b)
