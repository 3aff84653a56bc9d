"""RESIZE_BILINEAR int8/int16: bit-exact against the reference interpreter (its integer scheme
in 1/1024 pixel units, rounding half away from zero) over up- and downscaling, align_corners
and half_pixel_centers, batches, channels and rounding ties; every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from test_op_resize_nearest_neighbor import resize_model
from tflite_builder import T, model

OPTIONS = [(False, False), (True, False), (False, True)]


def bilinear_model(shape, size, align=False, half=False, **kwargs):
    return resize_model(shape, size, align, half, kind="RESIZE_BILINEAR", **kwargs)


SIZES = [
    ((1, 4, 4, 3), (8, 8)),        # UpSampling2D x2
    ((1, 3, 5, 2), (9, 10)),
    ((1, 6, 8, 4), (3, 4)),        # /2
    ((2, 5, 3, 1), (2, 7)),        # mixed, batch 2, one channel
    ((1, 7, 6, 3), (7, 5)),
    ((1, 5, 7, 2), (11, 3)),
    ((1, 1, 1, 5), (3, 2)),
    ((1, 3, 3, 2), (1, 1)),
    ((1, 2, 2, 8), (16, 16)),      # x8
]


@pytest.mark.parametrize("align,half", OPTIONS)
@pytest.mark.parametrize("shape,size", SIZES)
def test_resize_bilinear(shape, size, align, half):
    assert_bit_exact(bilinear_model(shape, size, align, half), spread={})


@pytest.mark.parametrize("align,half", OPTIONS)
def test_resize_bilinear_ties_round_away_from_zero(align, half):
    # x2 along a row of two pixels: the middle outputs are exact halves of odd sums.
    pairs = np.array([[a, b] for a in (-128, -3, -1, 0, 1, 2, 127) for b in (-128, -2, -1, 0, 1,
                                                                           127)], np.int8)
    assert_bit_exact(bilinear_model((1, 1, 2, 1), (1, 4), align, half), inputs=[pairs])


@pytest.mark.parametrize("zp", [-128, 127])
def test_resize_bilinear_zero_points(zp):
    assert_bit_exact(bilinear_model((1, 4, 3, 3), (7, 9), q=(0.3, zp)), spread={})


@pytest.mark.parametrize("align,half", OPTIONS)
def test_resize_bilinear_int16(align, half):
    x = np.random.default_rng(5).integers(-32768, 32768, (12, 4 * 3 * 2)).astype(np.int16)
    assert_bit_exact(bilinear_model((1, 4, 3, 2), (9, 5), align, half, dtype="int16",
                                    q=(0.001, 0)), inputs=[x], spread={})


def test_resize_bilinear_refusals():
    cases = [
        (bilinear_model((1, 4, 4, 3), (8, 8), True, True), "align_corners and "
                                                           "half_pixel_centers are both set"),
        (bilinear_model((1, 1, 1, 1), (55, 1)), "resizing height 1 to 55, the reference's "
                                                "integer scale reads past the last input pixel"),
        (bilinear_model((1, 4, 4, 3), (8, 8), dtype="int32"), "is int32; supported: int8, int16"),
        (bilinear_model((1, 4, 4, 3), (8, 8), const_size=False), "size operand 'in1' is "
                                                                 "computed at run time"),
        (model("RESIZE_BILINEAR",
               [T((1, 4, 4, 3), scale=0.1, data=np.zeros((1, 4, 4, 3), np.int8)),
                T((2,), "int32", data=np.array([8, 8], np.int32))],
               [T((1, 8, 8, 3), scale=0.1)]), "input 'in0' is a constant"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("RESIZE_BILINEAR (op 0") for p in problems), \
            (message, problems)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 20), ow=st.integers(1, 20),
       c=st.integers(1, 4), options=st.sampled_from(OPTIONS), seed=st.integers(0, 99))
def test_resize_bilinear_random(h, w, oh, ow, c, options, seed):
    assert_bit_exact(bilinear_model((1, h, w, c), (oh, ow), *options), count=4, seed=seed,
                     sanitize=False)
