"""ARG_MAX and ARG_MIN over int8 input, int32 and int64 output: bit-exact against the reference
interpreter over ranks, axes (first, middle, last, negative; int32 and int64 axis operands),
ties (the first index wins), quantisations, and their refusals."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model

OUTPUT_TYPES = {"int32": 2, "int64": 4}  # TensorType of ArgMaxOptions / ArgMinOptions


def arg_model(kind, shape, axis, out="int32", axis_dtype="int32", q=(0.05, -3), axis_shape=(1,)):
    a = len(shape) + axis if axis < 0 else axis
    y = tuple(d for k, d in enumerate(shape) if k != a)
    return model(kind, [T(shape, scale=q[0], zero_point=q[1]),
                        T(axis_shape, axis_dtype, data=np.array(axis, axis_dtype).reshape(
                            axis_shape))],
                 [T(y, out)], {"output_type": OUTPUT_TYPES[out]})


CASES = [
    ((1, 10), -1),          # a classifier's head
    ((1, 40), 1),
    ((3, 35), 0),           # the first axis
    ((2, 33, 3), 1),        # a middle axis: strided
    ((1, 4, 4, 40), 3),
    ((1, 5, 36, 2), -2),
    ((2, 3, 34, 1, 2), 2),  # rank 5
    ((7, 1), 1),            # a size-1 axis: every index 0
]


@pytest.mark.parametrize("kind", ["ARG_MAX", "ARG_MIN"])
@pytest.mark.parametrize("out", ["int32", "int64"])
@pytest.mark.parametrize("shape,axis", CASES)
def test_arg_axes(kind, out, shape, axis):
    size = shape[axis]
    spread = {"min_distinct": min(size, 16)} if size >= 10 else None
    assert_bit_exact(arg_model(kind, shape, axis, out), count=48, spread=spread)


@pytest.mark.parametrize("kind", ["ARG_MAX", "ARG_MIN"])
@pytest.mark.parametrize("shape,axis", [((4, 12), 1), ((3, 9, 2), 1), ((9, 4), 0)])
def test_arg_ties_keep_the_first(kind, shape, axis):
    """Values in [-2, 1]: every reduction has ties."""
    rng = np.random.default_rng(1)
    xs = [rng.integers(-2, 2, (24, int(np.prod(shape)))).astype(np.int8)]
    assert_bit_exact(arg_model(kind, shape, axis), inputs=xs, spread={"min_distinct": 4})
    constant = [np.full((2, int(np.prod(shape))), v, np.int8) for v in (-128, 127)]
    assert_bit_exact(arg_model(kind, shape, axis), inputs=[np.concatenate(constant)])


@pytest.mark.parametrize("axis_dtype,axis_shape", [("int64", (1,)), ("int32", ())])
def test_arg_axis_operands(axis_dtype, axis_shape):
    for kind in ("ARG_MAX", "ARG_MIN"):
        assert_bit_exact(arg_model(kind, (2, 5, 6), -1, "int64", axis_dtype,
                                   axis_shape=axis_shape))


@pytest.mark.parametrize("q", [(0.1, -128), (0.1, 127), (2.0, 0)])
def test_arg_quantisations(q):
    """Raw comparisons: the quantisation does not matter."""
    assert_bit_exact(arg_model("ARG_MAX", (4, 40), 1, q=q), spread={"min_distinct": 20})


def test_arg_refuses():
    b = model("ARG_MAX", [T((4, 3), "int16", scale=0.1),
                          T((1,), "int32", data=np.array([1], np.int32))], [T((4,), "int32")],
              {"output_type": 2})
    assert compile_problems(b) == ["ARG_MAX (op 0, 'out0'): tensor 'in0' is int16, expected int8"]
    b = model("ARG_MIN", [T((4, 3), scale=0.1), T((1,), "int32", data=np.array([1], np.int32))],
              [T((4,), "int16")], {"output_type": 2})
    assert compile_problems(b) == [
        "ARG_MIN (op 0, 'out0'): output 'out0' is int16, expected int32 or int64",
        "ARG_MIN (op 0, 'out0'): output_type int32 differs from the output tensor's int16 (the "
        "reference writes output_type)"]
    b = model("ARG_MAX", [T((4, 3), scale=0.1), T((1,), "int32", data=np.array([1], np.int32))],
              [T((4,), "int32")], {"output_type": 4})
    assert compile_problems(b) == [
        "ARG_MAX (op 0, 'out0'): output_type int64 differs from the output tensor's int32 (the "
        "reference writes output_type)"]
    b = model("ARG_MAX", [T((4, 3), scale=0.1), T((1,), "int32")], [T((4,), "int32")],
              {"output_type": 2})
    assert compile_problems(b) == ["ARG_MAX (op 0, 'out0'): the axis must be a constant int32 or "
                                   "int64 tensor of one element"]
    b = model("ARG_MAX", [T((4, 3), scale=0.1), T((2,), "int32", data=np.array([0, 1], np.int32))],
              [T((4,), "int32")], {"output_type": 2})
    assert any("of one element" in p for p in compile_problems(b))
    b = model("ARG_MAX", [T((4, 3), scale=0.1), T((1,), "int32", data=np.array([2], np.int32))],
              [T((4,), "int32")], {"output_type": 2})
    assert compile_problems(b) == ["ARG_MAX (op 0, 'out0'): axis 2 out of range for rank 2"]
    b = model("ARG_MIN", [T((4, 3), scale=0.1), T((1,), "int32", data=np.array([0], np.int32))],
              [T((4,), "int32")], {"output_type": 2})
    assert compile_problems(b) == ["ARG_MIN (op 0, 'out0'): output shape [4] is not the input's "
                                   "without axis 0, [3]"]
    b = model("ARG_MAX", [T((4, 3), scale=0.1, data=np.zeros((4, 3), np.int8)),
                          T((1,), "int32", data=np.array([1], np.int32))], [T((4,), "int32")],
              {"output_type": 2})
    assert "ARG_MAX (op 0, 'out0'): constant input 'in0' is not supported" in compile_problems(b)
    b = model("ARG_MAX", [T((2, 3), scale=[0.1, 0.2], zero_point=[0, 0], axis=0),
                          T((1,), "int32", data=np.array([1], np.int32))], [T((2,), "int32")],
              {"output_type": 2})
    assert any("quantised per channel" in p for p in compile_problems(b))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kind=st.sampled_from(["ARG_MAX", "ARG_MIN"]), rank=st.integers(1, 4),
       out=st.sampled_from(["int32", "int64"]), ties=st.booleans(), seed=st.integers(0, 99))
def test_arg_random(data, kind, rank, out, ties, seed):
    shape = tuple(data.draw(st.lists(st.integers(1, 9), min_size=rank, max_size=rank)))
    axis = data.draw(st.integers(-rank, rank - 1))
    rng = np.random.default_rng(seed)
    lo, hi = (-2, 2) if ties else (-128, 128)
    xs = [rng.integers(lo, hi, (6, int(np.prod(shape)))).astype(np.int8)]
    assert_bit_exact(arg_model(kind, shape, axis, out), inputs=xs, sanitize=False)
