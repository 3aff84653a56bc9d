"""BATCH_MATMUL int8: bit-exact against the reference interpreter over ranks 2 to 5, broadcast
batch dimensions, adj_x / adj_y, a constant rhs or lhs, zero points and scales; every refusal
of its check."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model


def matmul_model(lhs_shape, rhs_shape, adj_x=False, adj_y=False, ql=(0.05, -7), qr=(0.04, 3),
                 out_s=None, out_zp=4, const=None, seed=0, out_shape=None, dtype="int8",
                 rhs_scales=None) -> bytes:
    """A BATCH_MATMUL of lhs [..., M, K] by rhs [..., K, N] (shapes before the adjoints: with
    adj_x the lhs tensor is [..., K, M], with adj_y the rhs [..., N, K]). `const` ("lhs" or
    "rhs") makes that operand a random constant. By default the output scale puts a typical
    output about 40 steps from its zero point."""
    rng = np.random.default_rng(seed)
    lhs_t = tuple(lhs_shape[:-2]) + ((lhs_shape[-1], lhs_shape[-2]) if adj_x else
                                     tuple(lhs_shape[-2:]))
    rhs_t = tuple(rhs_shape[:-2]) + ((rhs_shape[-1], rhs_shape[-2]) if adj_y else
                                     tuple(rhs_shape[-2:]))
    if out_shape is None:
        out_shape = tuple(np.broadcast_shapes(tuple(lhs_shape[:-2]), tuple(rhs_shape[:-2]))) + (
            lhs_shape[-2], rhs_shape[-1])
    if out_s is None:
        out_s = ql[0] * qr[0] * np.sqrt(lhs_shape[-1]) * 74 * 74 / 40
    data = {side: rng.integers(-128, 128, shape).astype(np.int8) if const == side else None
            for side, shape in (("lhs", lhs_t), ("rhs", rhs_t))}
    rq = dict(scale=rhs_scales, zero_point=[qr[1]] * len(rhs_scales), axis=len(rhs_t) - 1) \
        if rhs_scales else dict(scale=qr[0], zero_point=qr[1])
    return model("BATCH_MATMUL",
                 [T(lhs_t, dtype, scale=ql[0], zero_point=ql[1], data=data["lhs"]),
                  T(rhs_t, dtype, data=data["rhs"], **rq)],
                 [T(tuple(out_shape), dtype, scale=out_s, zero_point=out_zp)],
                 {"adj_x": adj_x, "adj_y": adj_y})


# (lhs [..., M, K], rhs [..., K, N]) before the adjoints
SHAPES = [
    ((3, 5), (5, 4)),                        # rank 2
    ((2, 4, 6), (2, 6, 3)),                  # one batch dimension
    ((3, 4, 6), (1, 6, 3)),                  # rhs broadcast
    ((1, 4, 6), (3, 6, 3)),                  # lhs broadcast
    ((3, 4, 6), (6, 5)),                     # rank 3 by rank 2 (a Dense on a 3-D input)
    ((5, 7), (2, 7, 3)),                     # rank 2 by rank 3
    ((2, 1, 3, 8), (1, 3, 8, 2)),            # both broadcast
    ((2, 3, 4, 5), (2, 3, 5, 4)),            # rank 4, attention-like
    ((1, 2, 3, 2, 4), (2, 1, 3, 4, 3)),      # rank 5
    ((2, 2, 1, 3, 4), (3, 4, 2)),            # rank 5 by rank 3
    ((1, 16), (16, 1)),                      # a dot product
    ((6, 1), (1, 6)),                        # an outer product: depth 1
]


def shape_id(case) -> str:
    return "x".join(map(str, case[0])) + "-by-" + "x".join(map(str, case[1]))


@pytest.mark.parametrize("case", SHAPES, ids=[shape_id(c) for c in SHAPES])
@pytest.mark.parametrize("adj", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["nn", "tn", "nt", "tt"])
def test_batch_matmul_shapes(case, adj):
    assert_bit_exact(matmul_model(*case, *adj), spread=dict(min_distinct=16))


@pytest.mark.parametrize("case", SHAPES[:10], ids=[shape_id(c) for c in SHAPES[:10]])
@pytest.mark.parametrize("const", ["rhs", "lhs"])
@pytest.mark.parametrize("adj", [(False, False), (True, True)], ids=["nn", "tt"])
def test_batch_matmul_constant_operand(case, const, adj):
    assert_bit_exact(matmul_model(*case, *adj, const=const), spread=dict(min_distinct=16))


def spread_scale(zl: int, zr: int, k: int, sl: float, sr: float) -> float:
    """An output scale for sums of k products of uniform int8 values less zl and zr: the mean
    sum lands about 127 steps from the output zero point when it dominates, else the standard
    deviation about 40 steps."""
    ma, mb, var = -0.5 - zl, -0.5 - zr, (256 ** 2 - 1) / 12
    mean = k * ma * mb
    std = np.sqrt(k * ((var + ma ** 2) * (var + mb ** 2) - (ma * mb) ** 2))
    return sl * sr * (abs(mean) / 127 if abs(mean) > 2 * std else std / 40)


# (lhs zero point, rhs zero point, output zero point): with one-signed operands (extreme zero
# points) the sums are one-signed too, and the output zero point sits at the other end.
ZERO_POINTS = [(-128, 127, 127), (127, -128, 127), (-128, -128, -128), (127, 127, -128),
               (0, 0, 0), (31, -90, 50), (-128, 0, 0), (0, 127, -20)]


@pytest.mark.parametrize("zl,zr,out_zp", ZERO_POINTS)
@pytest.mark.parametrize("const", [None, "rhs", "lhs"])
def test_batch_matmul_zero_points(zl, zr, out_zp, const):
    ql, qr = (0.05, zl), (0.04, zr)
    assert_bit_exact(matmul_model((2, 5, 12), (2, 12, 6), ql=ql, qr=qr, out_zp=out_zp,
                                  out_s=spread_scale(zl, zr, 12, 0.05, 0.04), const=const),
                     spread={})


def test_batch_matmul_wide_constant():
    # A constant rhs less a large zero point leaves int8: stored as int16.
    assert_bit_exact(matmul_model((3, 4, 20), (20, 5), qr=(0.04, -120), const="rhs",
                                  out_s=spread_scale(-7, -120, 20, 0.05, 0.04)), spread={})


def test_batch_matmul_same_operand_twice():
    # x @ x^T: one activation read through both operands.
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s
    b = matmul_model((2, 4, 6), (2, 4, 6), adj_y=True, out_shape=(2, 4, 4))
    m = s.ModelT.InitFromPackedBuf(bytearray(b), 0)
    m.subgraphs[0].operators[0].inputs = np.array([0, 0], np.int32)
    m.subgraphs[0].inputs = np.array([0], np.int32)
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    assert_bit_exact(bytes(fb.Output()))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_l=st.lists(st.integers(1, 3), max_size=3), batch_r=st.lists(st.integers(1, 3),
                                                                         max_size=3),
       m=st.integers(1, 6), k=st.integers(1, 40), n=st.integers(1, 6),
       adj_x=st.booleans(), adj_y=st.booleans(), const=st.sampled_from([None, "lhs", "rhs"]),
       zl=st.integers(-128, 127), zr=st.integers(-128, 127), zo=st.integers(-128, 127),
       sl=st.floats(1e-3, 1.0), sr=st.floats(1e-3, 1.0), gain=st.floats(0.1, 10.0),
       seed=st.integers(0, 1000))
def test_batch_matmul_random(batch_l, batch_r, m, k, n, adj_x, adj_y, const, zl, zr, zo, sl, sr,
                             gain, seed):
    # Broadcast batch dimensions: where both have one, one of the two is 1 or they are equal.
    br = list(batch_r)
    for i in range(1, min(len(batch_l), len(br)) + 1):
        if br[-i] != batch_l[-i] and 1 not in (br[-i], batch_l[-i]):
            br[-i] = 1
    out_s = sl * sr * np.sqrt(k) * 137 * gain
    assert_bit_exact(matmul_model((*batch_l, m, k), (*br, k, n), adj_x, adj_y, ql=(sl, zl),
                                  qr=(sr, zr), out_s=out_s, out_zp=zo, const=const, seed=seed),
                     count=4, sanitize=False)


# --- refusals -----------------------------------------------------------------------------------

def _problems(*args, **kwargs) -> str:
    return " | ".join(compile_problems(matmul_model(*args, **kwargs)))


def test_batch_matmul_refuses_types_and_quantisation():
    p = _problems((3, 4), (4, 5), dtype="int16", ql=(0.05, 0), qr=(0.04, 0), out_zp=0)
    assert "BATCH_MATMUL (op 0" in p and "tensor 'in0' is int16, expected int8" in p
    p = _problems((3, 4), (4, 5), rhs_scales=[0.1, 0.2, 0.3, 0.4, 0.5], const="rhs")
    assert "tensor 'in1' is quantised per channel; per-tensor expected" in p


def test_batch_matmul_refuses_both_constant():
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s
    b = matmul_model((3, 4), (4, 5), const="rhs")
    m = s.ModelT.InitFromPackedBuf(bytearray(b), 0)
    buf = s.BufferT()
    buf.data = np.zeros(12, np.uint8)
    m.buffers.append(buf)
    m.subgraphs[0].tensors[0].buffer = len(m.buffers) - 1
    m.subgraphs[0].inputs = np.array([], np.int32)
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    p = " | ".join(compile_problems(bytes(fb.Output())))
    assert "both operands are constant; fold the product before converting" in p


def test_batch_matmul_refuses_shapes():
    assert "lhs 'in0' has rank 6; ranks 2 to 5 are supported" in \
        _problems((1, 1, 1, 1, 3, 4), (4, 5))
    assert "rhs 'in1' has rank 1; ranks 2 to 5 are supported" in \
        _problems((3, 4), (4,), out_shape=(3, 4))
    assert "lhs sums over 4 values, rhs over 5" in _problems((3, 4), (5, 2), out_shape=(3, 2))
    assert "batch dimensions [2] and [3] do not broadcast" in \
        _problems((2, 3, 4), (3, 4, 5), out_shape=(2, 3, 5))
    assert "output shape [3, 6] != [3, 5] computed from the operands" in \
        _problems((3, 4), (4, 5), out_shape=(3, 6))


def test_batch_matmul_refuses_accumulator_overflow():
    # 33026 products of 255 * 255 exceed int32.
    p = _problems((1, 33026), (33026, 1), ql=(0.05, 127), qr=(0.04, 127))
    assert "a sum can reach 2147515650, beyond int32 (the products sum over 33026 values)" in p


# --- through the Keras frontend -----------------------------------------------------------------

@pytest.mark.slow
def test_keras_batched_matmul():
    # Self-attention scores: keras.ops.matmul of two projections of the input (BATCH_MATMUL of
    # two activations, adj_y), then a Dense on the 3-D result (FULLY_CONNECTED).
    import keras
    from tinycompress.frontends.keras import convert

    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 8))
    q = keras.layers.Dense(8)(inp)
    k = keras.layers.Dense(8)(inp)
    scores = keras.ops.matmul(q, keras.ops.transpose(k, (0, 2, 1)))
    y = keras.layers.Dense(6)(scores)
    x_cal = np.random.default_rng(0).standard_normal((64, 5, 8)).astype(np.float32)
    tflite = convert(keras.Model(inp, y), (5, 8), x_cal, "batched_matmul")
    manifest = assert_bit_exact(tflite, count=16, spread=dict(min_distinct=16))
    assert manifest["ops"]["BATCH_MATMUL"] == 1
