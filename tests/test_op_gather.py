"""GATHER: bit-exact against the reference interpreter over axes, index shapes, constant or
activation params and indices (embedding lookups), int32/int64 indices, int8 (any quantisation,
also unlike the output's), int16 and int32 params; run-time indices out of range are clamped
(the reference fails the invocation on them); every refusal."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.targets import host


def gather_model(pshape, ishape, axis=0, indices=None, params=None, dtype="int8",
                 idtype="int32", q=(0.05, -3), qo=None, batch_dims=0, out=None):
    """GATHER of params `pshape` (constant when `params` is given) by indices `ishape` (constant
    when `indices` is given)."""
    a = axis % len(pshape)
    out = out or tuple(pshape[:a]) + tuple(ishape) + tuple(pshape[a + 1:])
    scale = None if dtype == "int32" else q[0]
    so, zo = qo if qo is not None else q
    idx = None if indices is None else np.array(indices, idtype).reshape(ishape)
    data = None if params is None else np.asarray(params, dtype).reshape(pshape)
    return model("GATHER", [T(pshape, dtype, scale=scale, zero_point=q[1], data=data),
                            T(ishape, idtype, data=idx)],
                 [T(out, dtype, scale=None if dtype == "int32" else so, zero_point=zo)],
                 {"axis": axis, "batch_dims": batch_dims})


def table(shape, dtype="int8", seed=0):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    return rng.integers(info.min, info.max, shape, dtype=np.int64).astype(dtype)


def indices_for(n, ishape, count=16, idtype="int32", seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, (count, int(np.prod(ishape, dtype=np.int64)))).astype(idtype)


# (params shape, axis, constant indices): few runs become memcpys, many a loop over a table.
CONST_INDEX_CASES = [
    ((6, 8), 0, [[4, 0, 1, 2, 5]]),                    # runs of rows
    ((3, 5, 4), 1, [[1, 2, 3, 0, 4]]),                 # a permutation, inner 4
    ((3, 5, 4), 2, [[3, 3, 1]]),                       # innermost axis: element copies
    ((3, 5, 4), -1, [[[0, 1], [2, 3]]]),               # 2-D indices, negative axis
    ((4, 7), 1, [list(np.random.default_rng(0).integers(0, 7, 20))]),   # 20 indices: a table
    ((40, 3), 0, [list(range(39, -1, -1))]),           # reversed: a table
    ((5, 6), 0, [3]),                                  # scalar index
]


@pytest.mark.parametrize("idtype", ["int32", "int64"])
@pytest.mark.parametrize("pshape,axis,indices", CONST_INDEX_CASES)
def test_gather_constant_indices(pshape, axis, indices, idtype):
    idx = np.array(indices[0])
    assert_bit_exact(gather_model(pshape, idx.shape, axis, indices=idx, idtype=idtype),
                     spread={})


@pytest.mark.parametrize("idtype", ["int32", "int64"])
@pytest.mark.parametrize("pshape,axis,ishape", [
    ((20, 6), 0, (1, 8)),        # an embedding lookup
    ((300, 4), 0, (5,)),         # a table of more than 256 rows
    ((3, 9, 2), 1, (4,)),
    ((6, 9), -1, (2, 3)),
])
def test_gather_constant_params(pshape, axis, ishape, idtype):
    n = pshape[axis]
    assert_bit_exact(gather_model(pshape, ishape, axis, params=table(pshape), idtype=idtype),
                     inputs=[indices_for(n, ishape, idtype=idtype)], spread={})


def test_gather_activation_params_and_indices():
    pshape, ishape = (5, 4, 3), (6,)
    x = table((16,) + pshape).reshape(16, -1)
    assert_bit_exact(gather_model(pshape, ishape, 1), inputs=[x, indices_for(4, ishape)],
                     spread={})


@pytest.mark.parametrize("q,qo", [((0.05, -128), (0.05, -128)), ((0.3, 127), (0.3, 127)),
                                  ((0.05, 3), (0.9, -60))])
def test_gather_quantisation_is_not_touched(q, qo):
    assert_bit_exact(gather_model((6, 8), (3,), 0, indices=[5, 0, 2], q=q, qo=qo), spread={})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_gather_wider_types(dtype):
    pshape = (7, 5)
    q = (0.01, 0)
    assert_bit_exact(gather_model(pshape, (3,), 0, indices=[6, 2, 3], dtype=dtype, q=q),
                     inputs=[table((12,) + pshape, dtype).reshape(12, -1)], spread={})
    assert_bit_exact(gather_model(pshape, (4,), 1, params=table(pshape, dtype), dtype=dtype, q=q),
                     inputs=[indices_for(5, (4,))], spread={})


@pytest.mark.parametrize("idtype", ["int32", "int64"])
def test_gather_clamps_run_time_indices_out_of_range(idtype):
    # The reference fails the invocation; the C clamps to [0, n - 1] and stays inside params.
    params = table((6, 4))
    tflite = gather_model((6, 4), (5,), 0, params=params, idtype=idtype)
    idx = np.array([[-1, 6, 2, 2**31 - 1, -2**31]], idtype)
    files, manifest = compile_tflite(tflite, name="m")
    with tempfile.TemporaryDirectory() as tmp:
        write_outdir(Path(tmp) / "out", files)
        (got,) = host.run_multi(Path(tmp) / "out", manifest, [idx], sanitize=True)
    np.testing.assert_array_equal(got.reshape(5, 4), params[np.clip(idx[0], 0, 5)])


def test_gather_refusals():
    cases = [
        (gather_model((4, 3), (2,), 0, indices=[0, 4]), "constant indices 'in1' hold [4], "
                                                         "outside [0, 4) of axis 0"),
        (gather_model((4, 3), (2,), 0, indices=[-1, 1]), "hold [-1], outside [0, 4)"),
        (gather_model((4, 3), (2,), 0, idtype="int16"), "indices 'in1' are int16; supported: "
                                                         "int32, int64"),
        (gather_model((4, 3), (2,), 0, batch_dims=1), "batch_dims 1 is not supported"),
        (gather_model((4, 3), (2,), 2, out=(4, 3)), "axis 2 is out of range for params 'in0' "
                                                     "of rank 2"),
        (gather_model((4, 3), (2,), 0, out=(2, 4)), "output 'out0' has shape [2, 4], expected "
                                                     "[2, 3]"),
        (gather_model((4, 3), (2,), 0, dtype="float32"), "tensor 'in0' is float32"),
        (gather_model((4, 3), (2,), 0, indices=[3, 1], params=table((4, 3))),
         "params 'in0' and indices 'in1' are both constant"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("GATHER (op 0") for p in problems), \
            (message, problems)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 3), const_params=st.booleans(),
       zp=st.integers(-128, 127))
def test_gather_random(data, rank, const_params, zp):
    pshape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    axis = data.draw(st.integers(-rank, rank - 1))
    ishape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    n = pshape[axis]
    if const_params:
        assert_bit_exact(gather_model(pshape, ishape, axis, params=table(pshape), q=(0.1, zp)),
                         inputs=[indices_for(n, ishape, count=4)], sanitize=False)
    else:
        idx = data.draw(st.lists(st.integers(0, n - 1), min_size=int(np.prod(ishape)),
                                 max_size=int(np.prod(ishape))))
        assert_bit_exact(gather_model(pshape, ishape, axis, indices=idx, q=(0.1, zp)), count=4,
                         sanitize=False)
