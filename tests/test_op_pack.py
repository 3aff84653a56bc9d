"""PACK: bit-exact against the reference interpreter for 1-5 inputs along every axis (negative
too), every element type, constant inputs; differing shapes or quantisation are refused (as the
reference refuses the latter)."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from movement import DTYPES, assert_moved, tensor
from optest import compile_problems
from tflite_builder import model
from tinycompress.compiler import compile_tflite


def pack_model(shape, n, axis, dtype="int8", q=(0.05, -3), const=(), seed=0):
    rng = np.random.default_rng(seed)
    rank = len(shape) + 1
    a = axis + rank if axis < 0 else axis
    out = tuple(shape[:a]) + (n,) + tuple(shape[a:])
    ins = []
    for k in range(n):
        data = None
        if k in const:
            info = np.iinfo(dtype) if dtype != "float32" else None
            data = (rng.standard_normal(shape).astype(np.float32) if info is None else
                    rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype))
        ins.append(tensor(shape, dtype, q, data=data))
    return model("PACK", ins, [tensor(out, dtype, q)], {"values_count": n, "axis": axis})


CASES = [
    ((1, 4, 4, 3), 2, 0),
    ((4, 4, 3), 3, 3),
    ((4, 4, 3), 2, -1),
    ((4, 4, 3), 4, 1),
    ((5, 6), 2, -2),
    ((7,), 5, 0),
    ((7,), 3, 1),
    ((2, 3, 2, 3), 2, 2),
    ((3, 4), 1, 1),
    ((2, 2, 3, 2, 2, 3, 2), 2, 5),
]


@pytest.mark.parametrize("shape,n,axis", CASES)
def test_pack(shape, n, axis):
    assert_moved(pack_model(shape, n, axis), [shape] * n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_dtypes(dtype):
    assert_moved(pack_model((3, 4, 5), 3, 1, dtype), [(3, 4, 5)] * 3, dtype)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("const", [(0,), (1, 2)])
def test_pack_constant_inputs(const, dtype):
    n = 3
    assert_moved(pack_model((2, 5, 3), n, 2, dtype, const=const), [(2, 5, 3)] * (n - len(const)),
                 dtype)


@pytest.mark.parametrize("zp", [-128, 127])
def test_pack_zero_points(zp):
    assert_moved(pack_model((4, 4, 3), 2, 3, q=(0.5, zp)), [(4, 4, 3)] * 2)


def test_pack_kernel_is_a_loop_of_memcpys():
    files, _ = compile_tflite(pack_model((4, 4, 3), 2, 2), name="m")
    body = files["src/m.c"].decode()
    assert "for (i0 = 0; i0 < 16; ++i0)" in body
    assert "memcpy(d0 + i0 * 6, s0 + i0 * 3, 3);" in body
    assert "memcpy(d0 + 3 + i0 * 6, s1 + i0 * 3, 3);" in body


REFUSALS = [
    (lambda: model("PACK", [tensor((2, 3)), tensor((3, 2))], [tensor((2, 2, 3))],
                   {"values_count": 2, "axis": 0}),
     r"input 'in1' has shape \[3, 2\], the first input \[2, 3\]"),
    (lambda: model("PACK", [tensor((2, 3)), tensor((2, 3))], [tensor((2, 2, 3))],
                   {"values_count": 3, "axis": 0}), "values_count 3 but 2 inputs"),
    (lambda: model("PACK", [tensor((2, 3)), tensor((2, 3))], [tensor((2, 2, 3))],
                   {"values_count": 2, "axis": 3}),
     "axis 3 is out of range for an output of rank 3"),
    (lambda: model("PACK", [tensor((2, 3)), tensor((2, 3))], [tensor((2, 2, 3))],
                   {"values_count": 2, "axis": 2}),
     r"output 'out0' has shape \[2, 2, 3\]; the reference computes \[2, 3, 2\]"),
    (lambda: model("PACK", [tensor((2, 3), q=(0.1, 0)), tensor((2, 3), q=(0.1, 5))],
                   [tensor((2, 2, 3), q=(0.1, 0))], {"values_count": 2, "axis": 0}),
     r"'in1' quantised \(scale 0.1, zero point 5\); PACK moves values"),
    (lambda: model("PACK", [tensor((2, 3)), tensor((2, 3))], [tensor((2, 3)), tensor((2, 3))],
                   {"values_count": 2, "axis": 0}), "expected inputs and 1 outputs, got 2 and 2"),
]


@pytest.mark.parametrize("build,message", REFUSALS)
def test_pack_refusals(build, message):
    problems = compile_problems(build())
    assert any(re.search(f"PACK \\(op 0.*{message}", p) for p in problems), problems


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 4), n=st.integers(1, 4),
       dtype=st.sampled_from(DTYPES))
def test_pack_random(data, rank, n, dtype):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    axis = data.draw(st.integers(-rank - 1, rank))
    assert_moved(pack_model(shape, n, axis, dtype), [shape] * n, dtype, count=4, sanitize=False,
                 spread=False)
