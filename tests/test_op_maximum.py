"""MAXIMUM and MINIMUM, int8 and int16: bit-exact against the reference interpreter over
broadcast shapes (up to rank 6), constant operands and quantisations, and the refusal of
operands quantised unlike the output."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from test_op_add import SHAPES
from tflite_builder import T, model

INFO = {"int8": np.iinfo(np.int8), "int16": np.iinfo(np.int16)}


def minmax_model(kind, shape1, shape2, dtype="int8", q=(0.05, -3), const=(False, False),
                 qs=None, seed=0):
    """`kind` of two operands quantised `q` (or `qs`: one (scale, zp) per input and the output)."""
    rng = np.random.default_rng(seed)
    qs = qs or [q, q, q]
    ins = []
    for shape, (s, z), is_const in zip((shape1, shape2), qs, const):
        info = INFO[dtype]
        data = (rng.integers(info.min, info.max + 1, shape).astype(dtype) if is_const else None)
        ins.append(T(shape, dtype, scale=s, zero_point=z, data=data))
    out = tuple(np.broadcast_shapes(shape1, shape2))
    return model(kind, ins, [T(out, dtype, scale=qs[2][0], zero_point=qs[2][1])])


@pytest.mark.parametrize("kind", ["MAXIMUM", "MINIMUM"])
@pytest.mark.parametrize("shape1,shape2", SHAPES + [((2, 1, 3, 1, 2, 1), (1, 4, 1, 5, 2, 3))])
def test_minmax_broadcast(kind, shape1, shape2):
    big = np.prod(np.broadcast_shapes(shape1, shape2)) >= 60
    assert_bit_exact(minmax_model(kind, shape1, shape2), spread={} if big else None)


@pytest.mark.parametrize("kind", ["MAXIMUM", "MINIMUM"])
@pytest.mark.parametrize("shape1,shape2", [((1, 4, 5, 6), (1, 4, 5, 6)), ((1, 4, 5, 6), (6,)),
                                           ((2, 1, 3), (4, 1))])
def test_minmax_int16(kind, shape1, shape2):
    assert_bit_exact(minmax_model(kind, shape1, shape2, "int16", q=(0.001, 0)),
                     spread={"min_distinct": 20})


@pytest.mark.parametrize("kind,dtype", [("MAXIMUM", "int8"), ("MINIMUM", "int8"),
                                        ("MAXIMUM", "int16")])
@pytest.mark.parametrize("const", [(True, False), (False, True)])
@pytest.mark.parametrize("shape1,shape2", [((1, 4, 4, 8), (1, 1, 1, 8)), ((1, 4, 4, 8), ())])
def test_minmax_constant_operand(kind, dtype, const, shape1, shape2):
    """ReLU-like clamps: MAXIMUM against a constant (e.g. zero) is how converters write them."""
    assert_bit_exact(minmax_model(kind, shape1, shape2, dtype, const=const))


@pytest.mark.parametrize("q", [(0.1, -128), (0.1, 127), (1.0, 0), (0.003, 50)])
def test_minmax_quantisations(q):
    """Raw comparisons: any shared quantisation, zero points at both ends."""
    for kind in ("MAXIMUM", "MINIMUM"):
        assert_bit_exact(minmax_model(kind, (1, 6, 6, 4), (1, 6, 6, 4), q=q), spread={})


def test_minmax_same_tensor_twice():
    """max(x, x) = x: both operands read the one activation."""
    from ai_edge_litert import schema_py_generated as s
    import flatbuffers

    b = model("MAXIMUM", [T((1, 4, 4, 3), scale=0.05, zero_point=5)],
              [T((1, 4, 4, 3), scale=0.05, zero_point=5)])
    m = s.ModelT.InitFromPackedBuf(bytearray(b), 0)
    m.subgraphs[0].operators[0].inputs = np.array([0, 0], np.int32)
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    assert_bit_exact(bytes(fb.Output()))


@pytest.mark.parametrize("kind", ["MAXIMUM", "MINIMUM"])
def test_minmax_refuses_other_quantisations(kind):
    b = minmax_model(kind, (4,), (4,), qs=[(0.05, -3), (0.1, -3), (0.05, -3)])
    assert compile_problems(b) == [
        f"{kind} (op 0, 'out0'): input 'in1' is quantised ({np.float32(0.1)}, -3), the output "
        f"({np.float32(0.05)}, -3); {kind} compares raw values, so they must be equal"]
    b = minmax_model(kind, (4,), (4,), qs=[(0.05, 1), (0.05, -3), (0.05, -3)])
    (problem,) = compile_problems(b)
    assert "input 'in0' is quantised" in problem and ", 1)" in problem


def test_minmax_refuses_types_and_shapes():
    b = model("MAXIMUM", [T((4,), "int32"), T((4,), "int32")], [T((4,), "int32")])
    problems = compile_problems(b)
    assert "MAXIMUM (op 0, 'out0'): tensor 'in0' is int32, expected int8 or int16" in problems
    b = model("MINIMUM", [T((4,), "int16", scale=0.1), T((4,), "int8", scale=0.1)],
              [T((4,), "int16", scale=0.1)])
    assert "MINIMUM (op 0, 'out0'): tensor 'in1' is int8, expected int16" in compile_problems(b)
    b = model("MAXIMUM", [T((1, 2, 1, 3, 1, 2, 1), scale=0.1),
                          T((1, 1, 4, 1, 5, 2, 3), scale=0.1)],
              [T((1, 2, 4, 3, 5, 2, 3), scale=0.1)])
    assert any("rank above 6" in p for p in compile_problems(b))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["MAXIMUM", "MINIMUM"]), dtype=st.sampled_from(["int8", "int16"]),
       s=st.floats(1e-3, 1.0), z=st.integers(-128, 127), seed=st.integers(0, 99),
       shapes=st.sampled_from([((1, 3, 4, 5), (1, 3, 4, 5)), ((1, 3, 4, 5), (5,)),
                               ((3, 1, 5), (1, 4, 1)), ((6,), ())]))
def test_minmax_random(kind, dtype, s, z, seed, shapes):
    assert_bit_exact(minmax_model(kind, *shapes, dtype, q=(s, z), seed=seed), count=8,
                     sanitize=False)
