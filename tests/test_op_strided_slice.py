"""STRIDED_SLICE: bit-exact against the reference interpreter over begin/end/ellipsis/new-axis/
shrink masks, negative and large strides, negative and out-of-range indices, `offset`, ranks 1-8
and every element type; the output shape is the reference's own. What it cannot do or would
compute from garbage is refused."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from movement import DTYPES, assert_moved, tensor
from optest import compile_problems
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite
from tinycompress.ops.strided_slice import plan_axes
from tinycompress.reference import Reference


def _ints(values, dtype="int32"):
    return T((len(values),), dtype, data=np.array(values, dtype))


def ss_model(shape, begin, end, strides, dtype="int8", q=(0.05, -3), out_shape=None,
             itype="int32", **options):
    """A STRIDED_SLICE model; its output shape, unless given, is what the reference computes."""
    def build(out):
        return model("STRIDED_SLICE", [tensor(shape, dtype, q), _ints(begin, itype),
                                       _ints(end, itype), _ints(strides, itype)],
                     [tensor(out, dtype, q)], options)
    if out_shape is None:
        out_shape = tuple(Reference(build((1,)))._interp.get_output_details()[0]["shape"])
    return build(out_shape)


def numpy_slice(shape, spec):
    """The output shape numpy gives `x[spec]`, to check the reference's against."""
    return np.empty(shape)[spec].shape


# (shape, begin, end, strides, options, the numpy expression they encode)
E = Ellipsis
CASES = [
    ((1, 8, 8, 16), [0, 2, 0, 0], [1, 6, 8, 16], [1, 1, 1, 1], {},
     (slice(0, 1), slice(2, 6), slice(0, 8), slice(0, 16))),
    ((1, 4, 4, 16), [0, 0, 0, 4], [1, 4, 4, 12], [1, 1, 1, 1], {},
     (slice(0, 1), slice(0, 4), slice(0, 4), slice(4, 12))),
    ((1, 7, 6, 3), [0, 0, 1, 0], [1, 7, 6, 3], [1, 2, 3, 1], {},
     (slice(0, 1), slice(0, 7, 2), slice(1, 6, 3), slice(0, 3))),
    ((2, 5, 3), [0, -1, 0], [2, -6, 3], [1, -1, 1], {},
     (slice(0, 2), slice(-1, -6, -1), slice(0, 3))),
    ((4, 6), [0, 0], [0, 0], [-1, -2], dict(begin_mask=3, end_mask=3),
     (slice(None, None, -1), slice(None, None, -2))),
    ((5, 7), [3, 1], [0, 6], [-2, 2], dict(end_mask=1), (slice(3, None, -2), slice(1, 6, 2))),
    ((1, 5, 4), [0, 2, 0], [1, 3, 4], [1, 1, 1], dict(shrink_axis_mask=2),
     (slice(0, 1), 2, slice(0, 4))),
    ((3, 4), [-1, 0], [0, 4], [1, 1], dict(shrink_axis_mask=1), (-1, slice(0, 4))),
    ((2, 3, 4, 5), [0, 1], [0, 3], [1, 1], dict(ellipsis_mask=1), (E, slice(1, 3))),
    ((2, 3, 4, 5), [1, 0, 2], [2, 0, 5], [1, 1, 1], dict(ellipsis_mask=2),
     (slice(1, 2), E, slice(2, 5))),
    ((2, 3, 4, 5), [0, 1], [0, 0], [1, 1], dict(ellipsis_mask=1, shrink_axis_mask=2), (E, 1)),
    ((3, 4), [0, 0, 1], [0, 3, 4], [1, 1, 1], dict(new_axis_mask=1),
     (None, slice(0, 3), slice(1, 4))),
    ((3, 4), [1, 0, 0], [2, 0, 4], [1, 1, 2], dict(new_axis_mask=2, shrink_axis_mask=1),
     (1, None, slice(0, 4, 2))),
    ((2, 3, 4), [0, 0, 1], [0, 0, 3], [1, 1, 1], dict(ellipsis_mask=1, new_axis_mask=2),
     (E, None, slice(1, 3))),
    ((2, 3, 4), [1], [2], [1], {}, (slice(1, 2),)),
    ((5,), [-10], [10], [1], {}, (slice(-10, 10),)),
    ((9,), [10], [-10], [-2], {}, (slice(10, -10, -2),)),
    ((6, 5), [7, -9], [-8, 9], [-3, 4], {}, (slice(7, -8, -3), slice(-9, 9, 4))),
    ((2, 3, 2, 3, 2), [1, 0, 0, 2, 0], [2, 3, 2, 0, 2], [1, 2, 1, -1, 1], {},
     (slice(1, 2), slice(0, 3, 2), slice(0, 2), slice(2, 0, -1), slice(0, 2))),
    ((2, 3, 2, 3, 2, 3), [0, 1, 0, 0, 1, 0], [2, 3, 2, 3, 2, 3], [1, 1, 1, 2, 1, -1],
     dict(begin_mask=32, end_mask=32),
     (slice(0, 2), slice(1, 3), slice(0, 2), slice(0, 3, 2), slice(1, 2), slice(None, None, -1))),
    ((2, 3, 2, 2, 3, 2, 2, 3), [1, 0, 0, 0, 2, 0, 1, 0], [2, 3, 2, 2, 0, 2, 2, 3],
     [1, 2, 1, 1, -1, 1, 1, 2], {},
     (slice(1, 2), slice(0, 3, 2), slice(0, 2), slice(0, 2), slice(2, 0, -1), slice(0, 2),
      slice(1, 2), slice(0, 3, 2))),
]


def test_cases_encode_their_numpy_slices():
    for shape, begin, end, strides, options, spec in CASES:
        got = Reference(ss_model(shape, begin, end, strides, **options))._interp \
            .get_output_details()[0]["shape"]
        assert tuple(got) == numpy_slice(shape, spec), (shape, spec)


@pytest.mark.parametrize("shape,begin,end,strides,options,spec", CASES,
                         ids=[f"case{k}" for k in range(len(CASES))])
def test_strided_slice(shape, begin, end, strides, options, spec):
    assert_moved(ss_model(shape, begin, end, strides, **options), [shape],
                 spread=int(np.prod(numpy_slice(shape, spec))) >= 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 3, 9, 12, 18])
def test_strided_slice_dtypes(k, dtype):
    shape, begin, end, strides, options, _ = CASES[k]
    assert_moved(ss_model(shape, begin, end, strides, dtype, **options), [shape], dtype)


@pytest.mark.parametrize("zp", [-128, 127])
def test_strided_slice_zero_points(zp):
    assert_moved(ss_model((1, 6, 6, 4), [0, 1, 0, 0], [1, 6, 6, 4], [1, 2, 1, 1], q=(0.7, zp)),
                 [(1, 6, 6, 4)])


@pytest.mark.parametrize("begin,end,strides,options", [
    ([1, 2], [2, 3], [1, 1], {}),              # x[1:3, 2:5]
    ([0, 1], [3, 2], [1, 2], {}),              # x[0:3, 1:3:2]
    ([3, 5], [-2, -3], [-1, -2], {}),          # x[3:1:-1, 5:2:-2]
    ([1, 0], [0, 4], [1, 1], dict(shrink_axis_mask=1)),
    ([2, 0], [1, 6], [1, 1], dict(begin_mask=1)),  # begin masked: from 0, end counts from it
])
def test_strided_slice_offset(begin, end, strides, options):
    assert_moved(ss_model((4, 6), begin, end, strides, offset=True, **options), [(4, 6)],
                 spread=False)


def test_dynamic_batch_scalar_slice_int32():
    # As Flatten's shape chain: the first element of an int32 vector, shrunk to a scalar.
    assert_moved(ss_model((4,), [0], [1], [1], "int32", shrink_axis_mask=1), [(4,)], "int32",
                 spread=False)


def test_strided_slice_kernels_are_compact():
    files, _ = compile_tflite(ss_model((1, 8, 8, 16), [0, 2, 0, 0], [1, 6, 8, 16], [1] * 4),
                              name="m")
    assert "memcpy(d0, s0 + 256, 512);" in files["src/m.c"].decode()
    files, _ = compile_tflite(ss_model((4, 6, 8), [3, 0, 0], [0, 6, 8], [-1, 2, 1],
                                       end_mask=1), name="m")
    # x[3::-1, ::2, :]: two loops around a row of 8 bytes, the outer one walking backwards.
    assert "memcpy(d0 + i0 * 24 + i1 * 8, s0 + 144 - i0 * 48 + i1 * 16, 8);" in \
        files["src/m.c"].decode()
    files, _ = compile_tflite(ss_model((4, 6, 8), [0] * 3, [0] * 3, [-1] * 3, begin_mask=7,
                                       end_mask=7), name="m")
    # x[::-1, ::-1, ::-1]: one loop over every byte, backwards.
    assert "d0[i0] = s0[191 - i0];" in files["src/m.c"].decode()
    assert "i1" not in files["src/m.c"].decode()


def _runtime_end():
    return model("STRIDED_SLICE", [tensor((4, 4)), _ints([0, 0]), T((2,), "int32"),
                                   _ints([1, 1])], [tensor((2, 2))])


REFUSALS = [
    (_runtime_end, "end operand 'in2' is computed at run time"),
    (lambda: ss_model((4, 4), [0, 0], [2, 2], [1, 1], itype="int64", out_shape=(2, 2)),
     "begin operand 'in1' is int64; int32 expected"),
    (lambda: model("STRIDED_SLICE", [tensor((4, 4)), _ints([0, 0]), _ints([2, 2]), _ints([1])],
                   [tensor((2, 2))]), "begin, end and strides have 2, 2 and 1 values"),
    (lambda: ss_model((4, 4), [0, 0], [2, 2], [1, 0], out_shape=(2, 2)), "a stride is 0"),
    (lambda: ss_model((4, 4), [3, 0], [0, 4], [-1, 1], out_shape=(4,), shrink_axis_mask=1),
     "shrunk axis 0 selects 0 elements"),
    (lambda: ss_model((4, 4), [7, 0], [8, 4], [1, 1], out_shape=(4,), shrink_axis_mask=1),
     "shrunk axis 0 selects 0 elements"),
    (lambda: ss_model((4, 6), [2, 0], [5, 6], [1, 1], out_shape=(2, 6), offset=True),
     "axis 0 walks 2 elements but the reference's output shape gives it 5"),
    (lambda: ss_model((4, 6, 2), [0], [1], [1], out_shape=(1, 6, 2), offset=True),
     "with offset every axis needs its own end value"),
    (lambda: ss_model((4, 6, 2, 3), [0], [1], [1], out_shape=(4, 6, 2, 3), ellipsis_mask=4),
     "the masks leave spec 1 of 1 for effective axis 1"),
    (lambda: ss_model((4,), [0, 0, 0], [1, 1, 1], [1, 1, 1], out_shape=(1, 1), new_axis_mask=4),
     "the masks address more axes than the input's 1"),
    (lambda: ss_model((4, 4), [0, 0], [2, 2], [1, 1], out_shape=(2, 3)),
     r"output 'out0' has shape \[2, 3\]; the reference computes \[2, 2\]"),
    (lambda: model("STRIDED_SLICE", [tensor((4, 4)), _ints([0, 0]), _ints([2, 2])],
                   [tensor((2, 2))]), "expected 4 inputs and 1 outputs"),
    (lambda: model("STRIDED_SLICE", [T((4, 4), "int64"), _ints([0, 0]), _ints([2, 2]),
                                     _ints([1, 1])], [T((2, 2), "int64")]),
     "tensor 'in0' is int64; supported are int8, int16, int32, float32"),
    (lambda: model("STRIDED_SLICE", [T((4, 4), "int16", scale=0.001),
                                     _ints([0, 0]), _ints([2, 2]), _ints([1, 1])],
                   [tensor((2, 2))]), "tensor 'out0' is int8, 'in0' int16"),
    (lambda: model("STRIDED_SLICE", [tensor((1,) * 9), _ints([0] * 9), _ints([1] * 9),
                                     _ints([1] * 9)], [tensor((1,) * 9)]),
     "tensor 'in0' has rank 9; at most 8 is supported"),
    (lambda: model("STRIDED_SLICE", [T((2, 4), scale=[0.1, 0.2], zero_point=[0, 0]),
                                     _ints([0, 0]), _ints([2, 2]), _ints([1, 1])],
                   [tensor((2, 2))]), "tensor 'in0' is quantised per channel"),
    (lambda: model("STRIDED_SLICE", [tensor((4, 4)), _ints([0, 0]), _ints([2, 2]),
                                     _ints([1, 1])], [T((2, 2), scale=0.05, zero_point=4)]),
     r"'out0' quantised \(scale 0.05, zero point 4\); STRIDED_SLICE moves values"),
    (lambda: model("STRIDED_SLICE", [T((4, 4), "float32"), _ints([0, 0]), _ints([2, 2]),
                                     _ints([1, 1])], [tensor((2, 2))]),
     "tensor 'out0' is int8, 'in0' float32"),
]


@pytest.mark.parametrize("build,message", REFUSALS)
def test_strided_slice_refusals(build, message):
    problems = compile_problems(build())
    assert any(re.search(f"STRIDED_SLICE \\(op 0.*{message}", p) for p in problems), problems


def _accepted(shape, begin, end, strides, options) -> bool:
    axes, why = plan_axes(shape, begin, end, strides, options)
    return not why and all(a.count >= 1 and a.count == (a.shape_count if a.kept else 1)
                           for a in axes)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 5), dtype=st.sampled_from(DTYPES))
def test_strided_slice_random(data, rank, dtype):
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    n = data.draw(st.integers(1, rank + 1))
    ints = st.lists(st.integers(-7, 7), min_size=n, max_size=n)
    begin, end = data.draw(ints), data.draw(ints)
    strides = data.draw(st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=n, max_size=n))
    masks = st.integers(0, (1 << n) - 1)
    options = dict(begin_mask=data.draw(masks), end_mask=data.draw(masks),
                   shrink_axis_mask=data.draw(st.sampled_from([0, data.draw(masks)])),
                   new_axis_mask=data.draw(st.sampled_from([0, 0, data.draw(masks)])),
                   ellipsis_mask=data.draw(st.sampled_from([0, 0] + [1 << k for k in range(n)])),
                   offset=data.draw(st.sampled_from([False, False, False, True])))
    assume(_accepted(shape, begin, end, strides, options))
    assert_moved(ss_model(shape, begin, end, strides, dtype, **options), [shape], dtype, count=4,
                 sanitize=False, spread=False)
