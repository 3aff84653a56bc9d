"""EMBEDDING_LOOKUP: bit-exact against the reference interpreter with a constant table looked up
by run-time ids (tables of more and fewer than 256 rows, rows of rank 1 and 2), constant ids on a
run-time table, int8 (any quantisation), int16 and int32 values; run-time ids out of range are
clamped (the reference fails the invocation on them); every refusal."""

import tempfile
from pathlib import Path

import numpy as np
import pytest

from optest import assert_bit_exact, compile_problems
from test_op_gather import indices_for, table
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.targets import host


def lookup_model(vshape, n_ids, ids=None, value=None, dtype="int8", idtype="int32",
                 q=(0.05, -3), qo=None, out=None):
    scale = None if dtype == "int32" else q[0]
    so, zo = qo if qo is not None else q
    out = out or (n_ids, *vshape[1:])
    return model("EMBEDDING_LOOKUP",
                 [T((n_ids,), idtype, data=None if ids is None else np.array(ids, idtype)),
                  T(vshape, dtype, scale=scale, zero_point=q[1],
                    data=None if value is None else np.asarray(value, dtype))],
                 [T(out, dtype, scale=None if dtype == "int32" else so, zero_point=zo)])


@pytest.mark.parametrize("vshape,n_ids", [((20, 6), 8), ((300, 4), 5), ((10, 3, 2), 4),
                                          ((7, 16), 1)])
def test_constant_table(vshape, n_ids):
    assert_bit_exact(lookup_model(vshape, n_ids, value=table(vshape)),
                     inputs=[indices_for(vshape[0], (n_ids,))], spread={})


@pytest.mark.parametrize("ids", [[3, 0, 1, 2], [5, 5, 1], [0, 1, 2, 3, 4, 5]])
def test_constant_ids(ids):
    vshape = (6, 5)
    x = table((16,) + vshape).reshape(16, -1)
    assert_bit_exact(lookup_model(vshape, len(ids), ids=ids), inputs=[x], spread={})


@pytest.mark.parametrize("q,qo", [((0.05, -128), (0.05, -128)), ((0.3, 3), (0.9, -60))])
def test_quantisation_is_not_touched(q, qo):
    vshape = (9, 4)
    assert_bit_exact(lookup_model(vshape, 6, value=table(vshape), q=q, qo=qo),
                     inputs=[indices_for(9, (6,))], spread={})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_wider_types(dtype):
    vshape = (11, 5)
    assert_bit_exact(lookup_model(vshape, 4, value=table(vshape, dtype), dtype=dtype,
                                  q=(0.01, 0)), inputs=[indices_for(11, (4,))], spread={})


def test_clamps_run_time_ids_out_of_range():
    value = table((6, 4))
    files, manifest = compile_tflite(lookup_model((6, 4), 5, value=value), name="m")
    ids = np.array([[-1, 6, 2, 2**31 - 1, -2**31]], np.int32)
    with tempfile.TemporaryDirectory() as tmp:
        write_outdir(Path(tmp) / "out", files)
        (got,) = host.run_multi(Path(tmp) / "out", manifest, [ids], sanitize=True)
    np.testing.assert_array_equal(got.reshape(5, 4), value[np.clip(ids[0], 0, 5)])


def test_refusals():
    v = table((4, 3))
    cases = [
        (lookup_model((4, 3), 2, ids=[0, 4]), "constant ids 'in0' hold [4], outside [0, 4)"),
        (lookup_model((4, 3), 2, idtype="int64", value=v), "lookup ids 'in0' are int64 of "
                                                           "shape [2]; a 1-D int32 tensor"),
        (lookup_model((4, 3), 2, ids=[0, 1], value=v), "are both constant"),
        (lookup_model((4,), 2, value=table((4,))), "value 'in1' has rank 1; at least 2"),
        (lookup_model((4, 3), 2, value=v, out=(2, 4)), "output 'out0' has shape [2, 4], "
                                                       "expected [2, 3]"),
        (lookup_model((4, 3), 2, value=v.astype(np.float32), dtype="float32"),
         "is float32; supported: int8, int16, int32"),
        (model("EMBEDDING_LOOKUP", [T((2,), "int32")], [T((2, 3), scale=0.1)]),
         "expected 2 inputs and 1 output(s), got 1 and 1"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("EMBEDDING_LOOKUP (op 0") for p in problems), \
            (message, problems)
