"""GATHER_ND: bit-exact against the reference interpreter over index depths (whole elements to
whole rows), index shapes, constant or run-time params and indices, int16/int32/int64 indices,
int8 (any quantisation, also unlike the output's), int16 and int32 params; run-time indices out
of range are clamped per component (the reference fails the invocation on them); refusals."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from test_op_gather import table
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.targets import host


def nd_model(pshape, ishape, indices=None, params=None, dtype="int8", idtype="int32",
             q=(0.05, -3), qo=None, out=None):
    depth = ishape[-1]
    out = out or tuple(ishape[:-1]) + tuple(pshape[depth:])
    scale = None if dtype == "int32" else q[0]
    so, zo = qo if qo is not None else q
    return model("GATHER_ND", [
        T(pshape, dtype, scale=scale, zero_point=q[1],
          data=None if params is None else np.asarray(params, dtype).reshape(pshape)),
        T(ishape, idtype, data=None if indices is None else
          np.asarray(indices, idtype).reshape(ishape))],
        [T(out, dtype, scale=None if dtype == "int32" else so, zero_point=zo)])


def spread_for(pshape, ishape) -> dict:
    """Distinct outputs to expect of 16 vectors of random table entries."""
    out = int(np.prod(ishape[:-1])) * int(np.prod(pshape[ishape[-1]:]))
    return {"min_distinct": min(32, 8 * out)}


def index_vectors(pshape, ishape, count=16, idtype="int32", seed=1):
    """`count` rows of in-range index vectors for indices of shape `ishape`."""
    rng = np.random.default_rng(seed)
    depth, n = ishape[-1], int(np.prod(ishape[:-1], dtype=np.int64))
    cols = [rng.integers(0, pshape[k], (count, n)) for k in range(depth)]
    return np.stack(cols, axis=-1).reshape(count, -1).astype(idtype)


# (params shape, indices shape): depth = the last index dimension.
SHAPES = [((6, 8), (5, 1)), ((4, 5, 3), (6, 2)), ((4, 5, 3), (2, 3, 3)), ((3, 4, 2, 5), (4, 2)),
          ((300, 4), (7, 1)), ((5, 6), (1, 2))]


@pytest.mark.parametrize("idtype", ["int16", "int32", "int64"])
@pytest.mark.parametrize("pshape,ishape", SHAPES)
def test_run_time_indices_constant_params(pshape, ishape, idtype):
    assert_bit_exact(nd_model(pshape, ishape, params=table(pshape), idtype=idtype),
                     inputs=[index_vectors(pshape, ishape, idtype=idtype)],
                     spread=spread_for(pshape, ishape))


@pytest.mark.parametrize("pshape,ishape", SHAPES)
def test_constant_indices_run_time_params(pshape, ishape):
    idx = index_vectors(pshape, ishape, count=1, seed=4)[0]
    x = table((16,) + pshape).reshape(16, -1)
    assert_bit_exact(nd_model(pshape, ishape, indices=idx), inputs=[x],
                     spread=spread_for(pshape, ishape))


def test_both_run_time():
    pshape, ishape = (5, 4, 3), (6, 2)
    x = table((16,) + pshape).reshape(16, -1)
    assert_bit_exact(nd_model(pshape, ishape), inputs=[x, index_vectors(pshape, ishape)],
                     spread={})


@pytest.mark.parametrize("q,qo", [((0.05, -128), (0.05, -128)), ((0.3, 3), (0.9, -60))])
def test_quantisation_is_not_touched(q, qo):
    pshape, ishape = (6, 7), (5, 2)
    assert_bit_exact(nd_model(pshape, ishape, params=table(pshape), q=q, qo=qo),
                     inputs=[index_vectors(pshape, ishape)], spread={})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_wider_types(dtype):
    pshape, ishape = (7, 3, 5), (4, 2)
    assert_bit_exact(nd_model(pshape, ishape, params=table(pshape, dtype), dtype=dtype,
                              q=(0.01, 0)), inputs=[index_vectors(pshape, ishape)], spread={})


@pytest.mark.parametrize("idtype", ["int16", "int64"])
def test_clamps_run_time_indices_out_of_range(idtype):
    params = table((6, 5, 3))
    files, manifest = compile_tflite(nd_model((6, 5, 3), (4, 2), params=params, idtype=idtype),
                                     name="m")
    info = np.iinfo(idtype)
    idx = np.array([[-1, 2, 6, 9, info.max, 0, info.min, info.max]], idtype)
    with tempfile.TemporaryDirectory() as tmp:
        write_outdir(Path(tmp) / "out", files)
        (got,) = host.run_multi(Path(tmp) / "out", manifest, [idx], sanitize=True)
    v = idx[0].reshape(4, 2).astype(np.int64)
    want = params[np.clip(v[:, 0], 0, 5), np.clip(v[:, 1], 0, 4)]
    np.testing.assert_array_equal(got.reshape(4, 3), want)


def test_refusals():
    p = table((4, 3))
    cases = [
        (nd_model((4, 3), (2, 2), indices=[[0, 1], [4, 0]]), "constant indices 'in1' hold "
                                                             "[[4, 0]], outside params [4, 3]"),
        (nd_model((4, 3), (2, 1), params=p, idtype="int8"), "indices 'in1' are int8; supported"),
        (nd_model((4, 3), (2, 1), indices=[[0], [1]], params=p), "are both constant"),
        (nd_model((4, 3), (2, 3), params=p, out=(2,)), "index 3 dimensions of params of rank 2"),
        (nd_model((4, 3), (2, 1), params=p, out=(2, 4)), "output 'out0' has shape [2, 4], "
                                                         "expected [2, 3]"),
        (nd_model((4, 3), (2, 1), params=p.astype(np.float32), dtype="float32"),
         "is float32; supported: int8, int16, int32"),
        (model("GATHER_ND", [T((4, 3), scale=0.1)], [T((4, 3), scale=0.1)]),
         "expected 2 inputs and 1 output(s), got 1 and 1"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("GATHER_ND (op 0") for p in problems), \
            (message, problems)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 4), const_params=st.booleans(),
       zp=st.integers(-128, 127))
def test_random(data, rank, const_params, zp):
    pshape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    depth = data.draw(st.integers(1, rank))
    lead = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    ishape = lead + (depth,)
    if const_params:
        m = nd_model(pshape, ishape, params=table(pshape), q=(0.1, zp))
        xs = [index_vectors(pshape, ishape, count=4)]
    else:
        m = nd_model(pshape, ishape, indices=index_vectors(pshape, ishape, count=1)[0],
                     q=(0.1, zp))
        xs = [table((4,) + pshape).reshape(4, -1)]
    assert_bit_exact(m, inputs=xs, sanitize=False)
