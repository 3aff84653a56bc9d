"""RESIZE_NEAREST_NEIGHBOR: bit-exact against the reference interpreter over up- and
downscaling, align_corners and half_pixel_centers (all four combinations), sizes whose source
indices need a table (the reference's float32 rounding), batches, channels, int8, int16 and
int32; every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite

OPTIONS = [(False, False), (True, False), (False, True), (True, True)]


def resize_model(shape, size, align=False, half=False, dtype="int8", q=(0.05, -3), qo=None,
                 kind="RESIZE_NEAREST_NEIGHBOR", out=None, const_size=True):
    n, _, _, c = shape
    out = out or (n, size[0], size[1], c)
    scale = None if dtype == "int32" else q[0]
    so, zo = qo if qo is not None else q
    s = np.array(size, np.int32)
    return model(kind, [T(shape, dtype, scale=scale, zero_point=q[1]),
                        T(s.shape, "int32", data=s if const_size else None)],
                 [T(out, dtype, scale=None if dtype == "int32" else so, zero_point=zo)],
                 {"align_corners": align, "half_pixel_centers": half})


SIZES = [
    ((1, 4, 4, 3), (8, 8)),        # UpSampling2D x2
    ((1, 3, 5, 2), (9, 10)),       # x3, x2
    ((1, 6, 8, 4), (3, 4)),        # /2
    ((2, 5, 3, 1), (2, 7)),        # mixed, batch 2, one channel
    ((1, 7, 6, 3), (7, 4)),        # same height
    ((1, 4, 5, 2), (6, 5)),        # same width: whole rows
    ((1, 1, 1, 5), (3, 2)),
    ((1, 3, 3, 2), (1, 1)),
]


@pytest.mark.parametrize("align,half", OPTIONS)
@pytest.mark.parametrize("shape,size", SIZES)
def test_resize_nearest(shape, size, align, half):
    assert_bit_exact(resize_model(shape, size, align, half), spread={})


# Sizes where floor/round of the float32 product differs from the exact rational index for some
# output position: the source indices come from a table.
TABLE_CASES = [((1, 26, 6, 1), (22, 74), False, False), ((1, 32, 8, 2), (15, 47), True, False),
               ((1, 6, 2, 1), (37, 41), False, True), ((1, 3, 7, 1), (1, 75), True, True)]


@pytest.mark.parametrize("shape,size,align,half", TABLE_CASES)
def test_resize_nearest_float_rounding_tables(shape, size, align, half):
    tflite = resize_model(shape, size, align, half)
    files, _ = compile_tflite(tflite, name="m")
    assert b"m_l0_rows[y]" in files["src/m.c"] or b"m_l0_cols[x]" in files["src/m.c"]
    assert_bit_exact(tflite, spread={})


def test_resize_nearest_exact_forms_need_no_table():
    files, manifest = compile_tflite(resize_model((1, 4, 4, 3), (8, 8)), name="m")
    assert manifest["weights_bytes"] == 0 and b"4 * y / 8" in files["src/m.c"]


@pytest.mark.parametrize("q,qo", [((0.05, -128), (0.05, -128)), ((0.3, 127), (0.7, 0))])
def test_resize_nearest_quantisation_is_not_touched(q, qo):
    assert_bit_exact(resize_model((1, 3, 3, 4), (6, 5), q=q, qo=qo), spread={})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_resize_nearest_wider_types(dtype):
    info = np.iinfo(dtype)
    x = np.random.default_rng(4).integers(info.min, info.max, (8, 3 * 4 * 2), dtype=np.int64)
    assert_bit_exact(resize_model((1, 3, 4, 2), (7, 6), False, True, dtype, q=(0.01, 0)),
                     inputs=[x.astype(dtype)], spread={})


def test_resize_nearest_refusals():
    cases = [
        (resize_model((1, 4, 4, 3), (8, 8), const_size=False), "size operand 'in1' is computed"),
        (resize_model((1, 4, 4, 3), (0, 8), out=(1, 1, 8, 3)), "size [0, 8] must be positive"),
        (resize_model((1, 4, 4, 3), (8, 8), out=(1, 8, 4, 3)), "has shape [1, 8, 4, 3], "
                                                               "expected [1, 8, 8, 3]"),
        (model("RESIZE_NEAREST_NEIGHBOR",
               [T((4, 4, 3), scale=0.1), T((2,), "int32", data=np.array([8, 8], np.int32))],
               [T((8, 8, 3), scale=0.1)]), "rank 3; supported: 4"),
        (model("RESIZE_NEAREST_NEIGHBOR",
               [T((1, 4, 4, 3), scale=0.1), T((3,), "int32", data=np.array([8, 8, 1], np.int32))],
               [T((1, 8, 8, 3), scale=0.1)]), "size operand 'in1' has shape [3], expected [2]"),
        (resize_model((1, 4, 4, 3), (8, 8), dtype="float32"), "is float32; supported: int8, "
                                                              "int16, int32"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("RESIZE_NEAREST_NEIGHBOR (op 0")
                   for p in problems), (message, problems)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 20), ow=st.integers(1, 20),
       c=st.integers(1, 4), options=st.sampled_from(OPTIONS))
def test_resize_nearest_random(h, w, oh, ow, c, options):
    assert_bit_exact(resize_model((1, h, w, c), (oh, ow), *options), count=4, sanitize=False)
