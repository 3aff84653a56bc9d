"""TRANSPOSE: bit-exact against the reference interpreter over every permutation of ranks 1-4,
chosen ones of ranks 5-8, every element type and zero point; invalid or run-time permutations
are refused."""

import itertools
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from movement import DTYPES, assert_moved, tensor
from optest import compile_problems
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite


def transpose_model(shape, perm, dtype="int8", q=(0.05, -3), ptype="int32", out_shape=None):
    out = tuple(shape[p] for p in perm) if out_shape is None else out_shape
    return model("TRANSPOSE", [tensor(shape, dtype, q),
                               T((len(perm),), ptype, data=np.array(perm, ptype))],
                 [tensor(out, dtype, q)])


SHAPES = {1: (7,), 2: (5, 6), 3: (2, 3, 4), 4: (2, 3, 4, 5)}
PERMS = [(SHAPES[r], p) for r in SHAPES for p in itertools.permutations(range(r))]


@pytest.mark.parametrize("shape,perm", PERMS, ids=[f"{len(s)}d-{''.join(map(str, p))}"
                                                    for s, p in PERMS])
def test_transpose(shape, perm):
    assert_moved(transpose_model(shape, perm), [shape])


HIGH = [
    ((2, 3, 2, 3, 2), (4, 2, 0, 3, 1)),
    ((1, 4, 4, 8, 2), (0, 1, 2, 4, 3)),
    ((2, 3, 2, 2, 3, 2), (5, 4, 3, 2, 1, 0)),
    ((2, 2, 3, 2, 2, 3, 2), (1, 0, 3, 2, 5, 6, 4)),
    ((2, 2, 2, 2, 2, 2, 2, 2), (7, 0, 6, 1, 5, 2, 4, 3)),
]


@pytest.mark.parametrize("shape,perm", HIGH)
def test_transpose_high_rank(shape, perm):
    assert_moved(transpose_model(shape, perm), [shape])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,perm", [((1, 4, 6, 3), (0, 3, 1, 2)), ((3, 5), (1, 0)),
                                        ((2, 3, 4, 5), (0, 2, 1, 3))])
def test_transpose_dtypes(shape, perm, dtype):
    assert_moved(transpose_model(shape, perm, dtype), [shape], dtype)


@pytest.mark.parametrize("zp", [-128, 127])
def test_transpose_zero_points(zp):
    assert_moved(transpose_model((1, 3, 5, 4), (0, 2, 1, 3), q=(0.02, zp)), [(1, 3, 5, 4)])


def test_transpose_kernels_are_compact():
    # Swapping two outer axes keeps rows of 4 channels: memcpys of 4 bytes.
    files, _ = compile_tflite(transpose_model((1, 3, 5, 4), (0, 2, 1, 3)), name="m")
    body = files["src/m.c"].decode()
    assert "memcpy(d0 + i0 * 12 + i1 * 4, s0 + i0 * 4 + i1 * 20, 4);" in body
    # The identity is one memcpy; NHWC -> NCHW of int16 copies 2-byte elements.
    files, _ = compile_tflite(transpose_model((2, 3, 4), (0, 1, 2)), name="m")
    assert "memcpy(d0, s0, 24);" in files["src/m.c"].decode()
    files, _ = compile_tflite(transpose_model((1, 4, 6, 3), (0, 3, 1, 2), "int16"), name="m")
    assert "memcpy(d0 + i0 * 48 + i1 * 2, s0 + i0 * 2 + i1 * 6, 2);" in files["src/m.c"].decode()


def _runtime_perm():
    return model("TRANSPOSE", [tensor((2, 3)), T((2,), "int32")], [tensor((3, 2))])


REFUSALS = [
    (_runtime_perm, "perm operand 'in1' is computed at run time"),
    (lambda: transpose_model((2, 3), (1, 0), ptype="int64"),
     "perm operand 'in1' is int64; int32 expected"),
    (lambda: transpose_model((2, 3), (1, 1), out_shape=(3, 3)),
     r"perm \[1, 1\] is not a permutation of the 2 input axes"),
    (lambda: transpose_model((2, 3, 4), (2, 0), out_shape=(4, 2)),
     r"perm \[2, 0\] is not a permutation of the 3 input axes"),
    (lambda: transpose_model((2, 3), (1, 0), out_shape=(2, 3)),
     r"has shape \[2, 3\]; the reference computes \[3, 2\]"),
    (lambda: transpose_model((1,) * 9, tuple(range(9))),
     "tensor 'in0' has rank 9; at most 8 is supported"),
    (lambda: model("TRANSPOSE", [tensor((2, 3))], [tensor((2, 3))]),
     "expected 2 inputs and 1 outputs, got 1 and 1"),
]


@pytest.mark.parametrize("build,message", REFUSALS)
def test_transpose_refusals(build, message):
    problems = compile_problems(build())
    assert any(re.search(f"TRANSPOSE \\(op 0.*{message}", p) for p in problems), problems


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 6), dtype=st.sampled_from(DTYPES))
def test_transpose_random(data, rank, dtype):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    perm = tuple(data.draw(st.permutations(range(rank))))
    assert_moved(transpose_model(shape, perm, dtype), [shape], dtype, count=4, sanitize=False,
                 spread=False)
