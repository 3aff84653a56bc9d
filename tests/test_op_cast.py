"""CAST between int8, int16 and int32: bit-exact against the reference interpreter in every
direction over inputs spanning the source type (so narrowing casts wrap), with and without
quantisation parameters; refusals."""

import numpy as np
import pytest

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model

TYPES = ("int8", "int16", "int32")


def cast_model(src, dst, shape=(1, 64), quantised=False):
    q = dict(scale=0.05, zero_point=3) if quantised else {}
    return model("CAST", [T(shape, src, **q)], [T(shape, dst, **q)])


def spanning(dtype, shape, count=16, seed=0):
    """Inputs over the whole source type, its extremes included."""
    info = np.iinfo(dtype)
    x = np.random.default_rng(seed).integers(info.min, info.max, (count, int(np.prod(shape))),
                                             dtype=np.int64, endpoint=True)
    x[0, :2] = info.min, info.max
    return [x.astype(dtype)]


@pytest.mark.parametrize("src", TYPES)
@pytest.mark.parametrize("dst", TYPES)
def test_cast(src, dst):
    xs = spanning(src, (1, 64))
    assert_bit_exact(cast_model(src, dst), inputs=xs, spread={"min_distinct": 200,
                                                              "max_clamped": 0.1})


@pytest.mark.parametrize("src,dst", [("int8", "int32"), ("int32", "int8"), ("int16", "int8")])
def test_cast_ignores_quantisation(src, dst):
    shape = (2, 3, 5)
    assert_bit_exact(cast_model(src, dst, shape, quantised=True), inputs=spanning(src, shape),
                     spread={"min_distinct": 24})


def test_cast_wraps_like_the_reference():
    """Narrowing keeps the value modulo 2^bits: e.g. 300 -> 44 and 70000 -> 4464."""
    x = np.array([[70000, -40000, 300, -129, 128, 255]], np.int32)
    m16 = cast_model("int32", "int16", (1, 6))
    m8 = cast_model("int32", "int8", (1, 6))
    assert_bit_exact(m16, inputs=[x])
    assert_bit_exact(m8, inputs=[x])
    from tinycompress.reference import Reference

    assert Reference(m16).run(x)[0].tolist() == [4464, 25536, 300, -129, 128, 255]
    assert Reference(m8).run(x)[0].tolist() == [112, -64, 44, 127, -128, -1]


def test_cast_refusals():
    cases = [
        (cast_model("int8", "float32"), "tensor 'out0' is float32; supported: int8, int16, int32"),
        (cast_model("uint8", "int8"), "tensor 'in0' is uint8; supported"),
        (model("CAST", [T((1, 4), "int8", data=np.ones((1, 4), np.int8))], [T((1, 4), "int32")]),
         "constant input 'in0' (the converter folds constant casts) is not supported"),
        (model("CAST", [T((1, 4), "int8")], [T((1, 5), "int32")]),
         "input has 4 elements, output 5"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("CAST (op 0") for p in problems), \
            (message, problems)
