"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32): bit-exact against
the reference interpreter, with float inputs placed on and around every rounding boundary."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite
from tinycompress.errors import UnsupportedModelError
from tinycompress.ops.quantize import key_to_float, thresholds

ALL = [np.arange(-128, 128, dtype=np.int8)[None, :]]


def quantize_model(scale, zp, shape=(1, 512)):
    return model("QUANTIZE", [T(shape, "float32")], [T(shape, scale=scale, zero_point=zp)])


def boundary_inputs(scale, zp, size=512, count=6, seed=0):
    """Float32 values at (k + 1/2) * scale and one ulp either side, for k across the int8 range
    and beyond, plus the thresholds themselves, signed zeros and ordinary values."""
    rng = np.random.default_rng(seed)
    s = np.float32(scale)
    half = ((np.arange(-140, 141) - zp + 0.5).astype(np.float32) * s).astype(np.float32)
    keys = thresholds(scale, zp).astype(np.int64)
    pool = np.concatenate([half, np.nextafter(half, np.float32(np.inf)),
                           np.nextafter(half, np.float32(-np.inf)), key_to_float(keys),
                           key_to_float(keys - 1), np.float32([0.0, -0.0, 1e-40, -1e-40]),
                           (rng.standard_normal(200) * 100 * s).astype(np.float32)])
    return [np.stack([rng.choice(pool, size) for _ in range(count)]).astype(np.float32)]


@pytest.mark.parametrize("scale,zp", [(0.05, 0), (0.1, -128), (0.0078125, 127), (1 / 3, 5),
                                      (2.7, -20), (1e-4, 60)])
def test_quantize_float_boundaries(scale, zp):
    assert_bit_exact(quantize_model(scale, zp), inputs=boundary_inputs(scale, zp))


@pytest.mark.parametrize("shape", [(1,), (1, 7), (1, 28, 28, 1)])
def test_quantize_float_shapes(shape):
    assert_bit_exact(quantize_model(0.02, -1, shape), count=4)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_s=st.floats(-12.0, 5.0), zp=st.integers(-128, 127), seed=st.integers(0, 100))
def test_quantize_float_random(log_s, zp, seed):
    scale = float(np.exp(log_s))
    assert_bit_exact(quantize_model(scale, zp), inputs=boundary_inputs(scale, zp, seed=seed),
                     sanitize=False)


def requantize_model(in_s, in_zp, out_s, out_zp, shape=(1, 256)):
    return model("QUANTIZE", [T(shape, scale=in_s, zero_point=in_zp)],
                 [T(shape, scale=out_s, zero_point=out_zp)])


@pytest.mark.parametrize("in_s,in_zp,out_s,out_zp", [
    (0.1, 0, 0.1, 0), (0.1, 3, 0.1, -7), (0.05, -128, 0.1, 0), (0.18294, 52, 6.28675, 54),
    (0.000228, 91, 0.001182, 0), (1.0, 10, 0.01, -3), (0.02, -5, 0.0197, 2)])
def test_requantize_all_inputs(in_s, in_zp, out_s, out_zp):
    assert_bit_exact(requantize_model(in_s, in_zp, out_s, out_zp), inputs=ALL)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_in=st.floats(-9.0, 2.0), log_ratio=st.floats(-4.0, 4.0),
       in_zp=st.integers(-128, 127), out_zp=st.integers(-128, 127))
def test_requantize_random(log_in, log_ratio, in_zp, out_zp):
    in_s = float(np.exp(log_in))
    assert_bit_exact(requantize_model(in_s, in_zp, in_s * float(np.exp(log_ratio)), out_zp),
                     inputs=ALL, sanitize=False)


def dequantize_model(scale, zp, shape=(1, 256)):
    return model("DEQUANTIZE", [T(shape, scale=scale, zero_point=zp)], [T(shape, "float32")])


@pytest.mark.parametrize("scale,zp", [(0.1, 0), (1 / 256, -128), (3.7e-5, 17), (123.456, -99)])
def test_dequantize_all_inputs(scale, zp):
    assert_bit_exact(dequantize_model(scale, zp), inputs=ALL)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_s=st.floats(-30.0, 20.0), zp=st.integers(-128, 127))
def test_dequantize_random(log_s, zp):
    assert_bit_exact(dequantize_model(float(np.exp(log_s)), zp), inputs=ALL, sanitize=False)


def test_quantize_dequantize_chain_shapes():
    """A float-interface model: QUANTIZE and DEQUANTIZE of a 3-D tensor, random float inputs."""
    assert_bit_exact(quantize_model(0.03, 4, (1, 5, 5, 3)), count=8)
    assert_bit_exact(dequantize_model(0.03, 4, (1, 5, 5, 3)), count=8)


def test_quantize_refuses_int16_output():
    m = model("QUANTIZE", [T((1, 4), "float32")], [T((1, 4), "int16", scale=0.1, zero_point=0)])
    with pytest.raises(UnsupportedModelError, match="expected int8"):
        compile_tflite(m, name="m")


def test_dequantize_refuses_constant_input():
    m = model("DEQUANTIZE", [T((1, 4), scale=0.1, zero_point=0,
                               data=np.zeros((1, 4), np.int8))], [T((1, 4), "float32")])
    with pytest.raises(UnsupportedModelError, match="constant input"):
        compile_tflite(m, name="m")


# --- requantisation with int16 on either side, and int16 DEQUANTIZE --------------------------

ALL16 = [np.arange(-32768, 32768, dtype=np.int16)[None, :]]


def retype_model(in_dtype, out_dtype, in_s, in_zp, out_s, out_zp, size):
    return model("QUANTIZE", [T((1, size), in_dtype, scale=in_s, zero_point=in_zp)],
                 [T((1, size), out_dtype, scale=out_s, zero_point=out_zp)])


@pytest.mark.parametrize("out_dtype,in_s,in_zp,out_s,out_zp", [
    ("int8", 0.000625, 0, 0.05920833, -128),  # the keyword model's input QUANTIZE
    ("int8", 0.0075834, 0, 0.7572406, -94), ("int8", 0.0598394, -23321, 0.3610084, 73),
    ("int8", 1e-4, 32767, 0.0123, 127), ("int8", 0.01, -32768, 2.5, -128),
    ("int32", 1.5259021e-05, -32768, 3.0518509e-05, 0),  # the keyword model's output QUANTIZE
    ("int32", 0.8247887, -26732, 90.07382, 44), ("int32", 0.3, 17, 0.0001, -100000),
    ("int16", 0.0101759, 0, 0.0201, 0), ("int16", 0.02, 0, 0.0788, 0)])
def test_requantize_int16_all_inputs(out_dtype, in_s, in_zp, out_s, out_zp):
    """Every int16 input. An int8 output must take all 256 values (the int16 range maps onto
    more than the int8 range, so clamping is expected); wider outputs must not be clamped."""
    m = retype_model("int16", out_dtype, in_s, in_zp, out_s, out_zp, 65536)
    spread = ({"min_distinct": 256, "max_clamped": 1.0} if out_dtype == "int8"
              else {"min_distinct": 600, "max_clamped": 0.0})
    assert_bit_exact(m, inputs=ALL16, spread=spread)


@pytest.mark.parametrize("in_s,in_zp,out_s,out_zp", [
    (0.05920833, -128, 0.000625, 0), (0.0042322, -51, 0.0006157, -24), (0.1, 127, 0.01, 32767),
    (0.02, -128, 0.0005, -32768), (0.7, 3, 0.5, 5)])
def test_requantize_int8_to_int16_all_inputs(in_s, in_zp, out_s, out_zp):
    assert_bit_exact(retype_model("int8", "int16", in_s, in_zp, out_s, out_zp, 256), inputs=ALL,
                     spread={"min_distinct": 200, "max_clamped": 0.1})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=st.sampled_from([("int16", "int8"), ("int16", "int32"), ("int16", "int16"),
                             ("int8", "int16")]),
       log_in=st.floats(-10.0, 1.0), log_ratio=st.floats(-5.0, 5.0),
       in_zp=st.integers(-32768, 32767), out_zp=st.integers(-32768, 32767))
def test_requantize_wide_random(pair, log_in, log_ratio, in_zp, out_zp):
    in_dtype, out_dtype = pair
    if in_dtype == "int8":
        in_zp = in_zp % 256 - 128
    if out_dtype == "int8":
        out_zp = out_zp % 256 - 128
    if in_dtype == out_dtype == "int16":
        in_zp = out_zp = 0
    in_s = float(np.exp(log_in))
    m = retype_model(in_dtype, out_dtype, in_s, in_zp, in_s * float(np.exp(log_ratio)), out_zp,
                     65536 if in_dtype == "int16" else 256)
    assert_bit_exact(m, inputs=ALL16 if in_dtype == "int16" else ALL, sanitize=False)


def test_requantize_int16_shapes_and_random_vectors():
    m = model("QUANTIZE", [T((1, 4, 6), "int16", scale=0.001, zero_point=-5)],
              [T((1, 4, 6), scale=0.5, zero_point=3)])
    assert_bit_exact(m, count=20, spread={"min_distinct": 100})


@pytest.mark.parametrize("scale", [0.000625, 1 / 3, 3.7e-9, 123.456, 2.0**-15])
def test_dequantize_int16_all_inputs(scale):
    m = model("DEQUANTIZE", [T((1, 65536), "int16", scale=scale)], [T((1, 65536), "float32")])
    assert_bit_exact(m, inputs=ALL16)


@pytest.mark.parametrize("in_dtype,out_dtype,zps,match", [
    ("int8", "int32", (0, 0), "QUANTIZE int8 -> int32 .* is not supported"),
    ("int16", "uint8", (0, 0), "QUANTIZE int16 -> uint8"),
    ("int32", "int8", (0, 0), "QUANTIZE int32 -> int8"),
    ("int16", "int16", (0, 3), "needs zero points 0 .* got 0 and 3"),
    ("int16", "int16", (-2, 0), "needs zero points 0 .* got -2 and 0")])
def test_requantize_refusals(in_dtype, out_dtype, zps, match):
    m = retype_model(in_dtype, out_dtype, 0.1, zps[0], 0.2, zps[1], 4)
    with pytest.raises(UnsupportedModelError, match=match):
        compile_tflite(m, name="m")


def test_requantize_refuses_unquantised_and_per_channel():
    m = model("QUANTIZE", [T((1, 4), "int16")], [T((1, 4), scale=0.1, zero_point=0)])
    with pytest.raises(UnsupportedModelError, match="'in0' has no quantisation parameters"):
        compile_tflite(m, name="m")
    m = model("QUANTIZE", [T((1, 2), "int16", scale=[0.1, 0.2], zero_point=[0, 0], axis=1)],
              [T((1, 2), scale=0.1, zero_point=0)])
    with pytest.raises(UnsupportedModelError, match="quantised per channel"):
        compile_tflite(m, name="m")


def test_dequantize_int16_refusals():
    m = model("DEQUANTIZE", [T((1, 4), "int16", scale=0.1, zero_point=4)], [T((1, 4), "float32")])
    with pytest.raises(UnsupportedModelError, match="has zero point 4; the reference requires 0"):
        compile_tflite(m, name="m")
    m = model("DEQUANTIZE", [T((1, 4), "int16")], [T((1, 4), "float32")])
    with pytest.raises(UnsupportedModelError, match="has no quantisation parameters"):
        compile_tflite(m, name="m")
    m = model("DEQUANTIZE", [T((1, 4), "int32", scale=0.1)], [T((1, 4), "float32")])
    with pytest.raises(UnsupportedModelError, match="expected int8 or int16"):
        compile_tflite(m, name="m")
