"""HARD_SWISH, int8: a 256-entry table (see _lut.py) built by the reference's int16 arithmetic.

The reference interpreter (activations.cc HardSwishPrepare, reference_ops::HardSwish for int8)
computes x * relu6(x + 3) / 6 in 16-bit fixed point. Prepare, in float32:
    hires_input_scale = input_scale / 128
    output: QuantizeMultiplier(hires_input_scale / output_scale) -> (m, e), e <= 0 required
    reluish: QuantizeMultiplier(hires_input_scale / (3 / 32768)) -> (m, e), any e
each multiplier brought to int16 by DownScaleInt32ToInt16Multiplier ((m + 2^15) >> 16, 32767
at the top). Per element, all values int16:
    hires = (x - input_zp) * 128
    preshift = SRDHM16(hires, output multiplier)
    reluish = hires; if e > 0: saturating << (e - 1), SRDHM16, saturating << 1;
              else: SRDHM16 then RoundingDivideByPOT(-e)                     (now in [-1, 1])
    reluish = (reluish + 2^15) >> 1                                          (now in [0, 1])
    out = RoundingDivideByPOT(SaturatingDoublingHighMul(reluish, preshift), -output e)
          + output_zp (wrapping in int16), clamped to [-128, 127]
where SRDHM16 is gemmlowp's SaturatingRoundingDoublingHighMul on int16 and
SaturatingDoublingHighMul its truncating variant. The result depends on the input value only, so
the compiler runs that arithmetic (this module, exactly in Python integers) for all 256 inputs and
the C is one table lookup per element. The reference refuses an output multiplier of 1 or more
(input_scale / 128 >= output_scale, roughly), so do we. Keras' hard_swish activation converts
to this op (tests/test_op_hard_swish.py).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import quantize_multiplier
from ._lut import check_unary_int8, lut_kernel
from .base import Context, Kernel, Lowering, register

_F32 = np.float32
I16_MIN, I16_MAX = -(1 << 15), (1 << 15) - 1


def _i16(x: int) -> int:
    """Wrap to int16, as a C conversion to int16_t does."""
    return ((x + (1 << 15)) % (1 << 16)) - (1 << 15)


def _srdhm16(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul<int16>: nudge, then truncating division."""
    if a == b == I16_MIN:
        return I16_MAX
    ab = a * b
    num = ab + ((1 << 14) if ab >= 0 else 1 - (1 << 14))
    q = abs(num) >> 15
    return _i16(q if num >= 0 else -q)


def _sdhm16(a: int, b: int) -> int:
    """SaturatingDoublingHighMul<int16>: a * b / 2^15 truncated toward zero."""
    if a == b == I16_MIN:
        return I16_MAX
    ab = a * b
    q = abs(ab) >> 15
    return _i16(q if ab >= 0 else -q)


def _rdbpot16(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT on int16 values, the mask truncated to int16 as Dup<int16>
    does (so an exponent of 16 or more gives sign(x) rounded away: 1 or -1)."""
    mask = _i16((1 << exponent) - 1)
    remainder = _i16(x & mask)
    threshold = _i16((mask >> 1) + (1 if x < 0 else 0))
    return _i16((x >> exponent) + (1 if remainder > threshold else 0))


def _sat_shl16(x: int, amount: int) -> int:
    return max(I16_MIN, min(I16_MAX, x * (1 << amount)))


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier."""
    m32, e = quantize_multiplier(real)
    m16 = I16_MAX if m32 >= (1 << 31) - 1 - (1 << 15) else (m32 + (1 << 15)) >> 16
    return m16, e


def multipliers(in_scale: float, out_scale: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """((output m16, e), (reluish m16, e)) as HardSwishPrepare computes them (float32)."""
    hires = _F32(1.0 / 128.0) * _F32(in_scale)
    return (_int16_multiplier(float(hires / _F32(out_scale))),
            _int16_multiplier(float(hires / _F32(3.0 / 32768.0))))


def _element(d: int, out_m: int, out_e: int, rel_m: int, rel_e: int, out_zp: int) -> int:
    hires = _i16(d * 128)
    preshift = _srdhm16(hires, out_m)
    reluish = hires
    if rel_e > 0:
        reluish = _sat_shl16(reluish, rel_e - 1)
    reluish = _srdhm16(reluish, rel_m)
    if rel_e > 0:
        reluish = _sat_shl16(reluish, 1)
    if rel_e < 0:
        reluish = _rdbpot16(reluish, -rel_e)
    reluish = _i16((reluish + (1 << 15)) >> 1)
    out = _rdbpot16(_sdhm16(reluish, preshift), -out_e)
    out = _i16(out + out_zp)
    return max(-128, min(127, out))


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """Entry k: the reference's output for input k - 128 (output exponent <= 0 assumed)."""
    (out_m, out_e), (rel_m, rel_e) = multipliers(in_scale, out_scale)
    return np.array([_element(q - in_zp, out_m, out_e, rel_m, rel_e, out_zp)
                     for q in range(-128, 128)], np.int8)


@register
class HardSwish(Lowering):
    kind = "HARD_SWISH"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_unary_int8(op, g)
        if problems:
            return problems
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        (_, out_e), _ = multipliers(x.quant.s, y.quant.s)
        if out_e > 0:
            problems.append(f"{op.describe()}: input scale {x.quant.s} / 128 is not below the "
                            f"output scale {y.quant.s}; the reference kernel requires that "
                            "(its output multiplier must be below 1)")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        table = hard_swish_table(x.quant.s, x.quant.zp, y.quant.s, y.quant.zp)
        return lut_kernel(op, g, table, "hard swish")
