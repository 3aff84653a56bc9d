"""The refusals the activation and normalisation ops share (check_unary, need_int8,
per_tensor and the int16 check), exercised for each of them."""

import numpy as np
import pytest

from optest import compile_problems
from tflite_builder import T, model

# kind -> (options, output scale, output zero point) that are otherwise valid for int8.
KINDS = {
    "RELU": ({}, 0.1, 0), "RELU6": ({}, 0.1, 0), "RELU_N1_TO_1": ({}, 0.1, 0),
    "RELU_0_TO_1": ({}, 0.1, 0), "LEAKY_RELU": ({"alpha": 0.2}, 0.1, 0),
    "HARD_SWISH": ({}, 0.1, 0), "ELU": ({}, 0.1, 0), "LOG_SOFTMAX": ({}, 16 / 256, 127),
    "L2_NORMALIZATION": ({"fused_activation_function": "NONE"}, 1 / 128, 0),
}


def unary(kind, x: T, y: T) -> bytes:
    return model(kind, [x], [y], KINDS[kind][0])


def out_like(kind, shape, dtype="int8", **kw):
    return T(shape, dtype, scale=kw.get("scale", KINDS[kind][1]),
             zero_point=kw.get("zero_point", KINDS[kind][2]))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_refuses_missing_quantisation(kind):
    problems = compile_problems(unary(kind, T((1, 8)), out_like(kind, (1, 8))))
    assert any(p.startswith(kind) and "'in0' has no quantisation parameters" in p
               for p in problems), problems


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_refuses_per_channel_input(kind):
    x = T((1, 2, 4), scale=[0.1, 0.2], zero_point=[0, 0], axis=1)
    problems = compile_problems(unary(kind, x, out_like(kind, (1, 2, 4))))
    assert any(p.startswith(kind) and "'in0' is quantised per channel; per-tensor expected" in p
               for p in problems), problems


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_refuses_element_count_mismatch(kind):
    problems = compile_problems(unary(kind, T((1, 8), scale=0.1, zero_point=0),
                                      out_like(kind, (1, 6))))
    assert any(p.startswith(kind) and "input has 8 elements, output 6" in p
               for p in problems), problems


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_refuses_two_inputs(kind):
    m = model(kind, [T((1, 8), scale=0.1, zero_point=0), T((1, 8), scale=0.1, zero_point=0)],
              [out_like(kind, (1, 8))], KINDS[kind][0])
    problems = compile_problems(m)
    assert any(p.startswith(kind) and "expected one input and one output" in p
               for p in problems), problems


@pytest.mark.parametrize("kind", ["RELU", "RELU6", "LEAKY_RELU"])
def test_int16_refuses_missing_quantisation_and_per_channel(kind):
    m = unary(kind, T((1, 8), "int16"), T((1, 8), "int16", scale=1 / 4096, zero_point=0))
    assert any(p.startswith(kind) and "'in0' is int16 without quantisation; expected "
               "quantised int16 like the input" in p for p in compile_problems(m))
    x = T((1, 2, 4), "int16", scale=[0.1, 0.2], zero_point=[0, 0], axis=1)
    m = unary(kind, x, T((1, 2, 4), "int16", scale=1 / 4096, zero_point=0))
    assert any(p.startswith(kind) and "'in0' is quantised per channel" in p
               for p in compile_problems(m))


def test_prelu_refuses_missing_quantisation():
    m = model("PRELU", [T((1, 4, 3), scale=0.1, zero_point=0),
                        T((3,), data=np.ones(3, np.int8))], [T((1, 4, 3), scale=0.1, zero_point=0)])
    problems = compile_problems(m)
    assert any(p.startswith("PRELU") and "'in1' has no quantisation parameters" in p
               for p in problems), problems
