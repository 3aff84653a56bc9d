/* tc_runtime.h: shared integer arithmetic of tinycompress-generated models (C99, no float).
 * Reproduces TFLite's reference fixed-point helpers exactly; see tinycompress/quant.py. */
#ifndef TC_RUNTIME_H
#define TC_RUNTIME_H

#include <stdint.h>
#include <string.h>
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP) || (defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#endif

#if defined(__GNUC__)
#define TC_ALIGNED(n) __attribute__((aligned(n)))
#define TC_INLINE static inline __attribute__((always_inline))
#define TC_NOINLINE static __attribute__((noinline, unused))
#else
#define TC_ALIGNED(n)
#define TC_INLINE static inline
#define TC_NOINLINE static inline
#endif

/* x >> (e & 255): a table entry's low byte is a code length (hcsr's decode,
 * kernels/fully_connected_s8_hcsr.c.j2). Thumb-2's LSR by a register reads only that byte, one
 * instruction; gcc 12 extracts the byte first, one instruction more a code. */
TC_INLINE uint32_t tc_shr_low8(uint32_t x, uint32_t e)
{
#if defined(__GNUC__) && defined(__thumb2__)
    __asm__("lsr %0, %0, %1" : "+r"(x) : "r"(e));
    return x;
#else
    return x >> (e & 255u);
#endif
}

/* acc + (the high halfword of v, signed) * x, x within int16: SMLATB on a DSP core. */
TC_INLINE int32_t tc_smlatb(int32_t acc, uint32_t v, int32_t x)
{
#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    __asm__("smlatb %0, %1, %2, %0" : "+r"(acc) : "r"(v), "r"(x));
    return acc;
#else
    return acc + (int32_t)(int16_t)(v >> 16) * x;
#endif
}

/* hcsr advances its bit position by leading zeros where the core counts them in one
   instruction (all but Armv6-M), else by the code lengths it takes. */
#if defined(__ARM_FEATURE_CLZ) || !defined(__arm__)
#define TC_HCSR_CLZ 1
#else
#define TC_HCSR_CLZ 0
#endif

/* Hides a value from the optimiser, which otherwise may re-derive it from an older one (a load
   at p + k after p += k: one instruction more). */
#if defined(__GNUC__)
#define TC_OPAQUE(x) __asm__("" : "+r"(x))
#else
#define TC_OPAQUE(x) ((void)0)
#endif

#ifndef TC_WEIGHTS_SECTION
#define TC_WEIGHTS_SECTION
#endif

/* Per-layer profiling hooks: empty unless the harness provides them. */
#ifdef TC_PROFILE
#include "tc_profile.h"
#endif
#ifndef TC_LAYER_BEGIN
#define TC_LAYER_BEGIN(index) ((void)0)
#endif
#ifndef TC_LAYER_END
#define TC_LAYER_END(index) ((void)0)
#endif

#ifdef __cplusplus
extern "C" {
#endif

TC_INLINE int32_t tc_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
TC_INLINE int32_t tc_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
TC_INLINE int32_t tc_clamp_i32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* x clamped to [lo, hi] within int8's range, for an int8 output: on a core with SSAT (Armv7-M and
 * later) one SSAT to int8's whole range, which gcc 12 does not make of the two compares, then
 * whichever bound is narrower (lo and hi are constants: the compiler drops the others). */
TC_INLINE int32_t tc_clamp_s8(int32_t x, int32_t lo, int32_t hi)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
    x = __ssat(x, 8);
    x = lo > -128 ? tc_max_i32(x, lo) : x;
    return hi < 127 ? tc_min_i32(x, hi) : x;
#else
    return tc_clamp_i32(x, lo, hi);
#endif
}

/* gemmlowp SaturatingRoundingDoublingHighMul. */
TC_INLINE int32_t tc_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (INT64_C(1) << 30) : (INT64_C(1) - (INT64_C(1) << 30));
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

/* gemmlowp RoundingDivideByPOT (arithmetic shift, round half away from zero). */
TC_INLINE int32_t tc_rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* tc_srdhm for b != INT32_MIN, which every requantisation multiplier (in [0, 2^31)) is: the
 * one saturating case cannot occur, and flooring (ab + 2^30) / 2^31 rounds exactly as gemmlowp's
 * nudge and truncation, negative ties included (tests/test_runtime_requant.py checks it against
 * tinycompress.quant). An SMULL and four ALU instructions on Cortex-M, no 64-bit division. */
TC_INLINE int32_t tc_srdhm_m(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * (int64_t)b + (INT64_C(1) << 30)) >> 31);
}

/* gemmlowp double-rounding requantisation (the reference's CONV_2D, DEPTHWISE_CONV_2D), for a
 * multiplier in [0, 2^31) and a shift in [-31, 30]: x shifted left by max(s, 0) (wrapping as the
 * reference's int32 product), tc_srdhm, then a rounding right shift by max(-s, 0). */
TC_INLINE int32_t tc_requant_dr(int32_t x, int32_t m, int s)
{
    return s > 0 ? tc_srdhm_m((int32_t)((uint32_t)x << s), m) : tc_rdbpot(tc_srdhm_m(x, m), -s);
}

/* tc_requant_dr for a shift known to be <= 0 (every channel of the layer). */
TC_INLINE int32_t tc_requant_dr_rshift(int32_t x, int32_t m, int s)
{
    return tc_rdbpot(tc_srdhm_m(x, m), -s);
}

/* tc_rdbpot(x, e) for 2 <= e <= 31 given p = 2^(32 - e): the high word of
 * x * 2^(32 - e) + 2^31 - (x < 0), one SMLAL. Exact: for x >= 0 it is floor((x + 2^(e-1)) / 2^e);
 * for x < 0 the 2^(e-32) taken off an integer numerator rounds exactly like taking off 1,
 * floor((x + 2^(e-1) - 1) / 2^e): ties away from zero, as gemmlowp. */
TC_INLINE int32_t tc_rdbpot_p(int32_t x, int32_t p)
{
    return (int32_t)(((int64_t)x * p + (INT64_C(0x80000000) + (x >> 31))) >> 32);
}

/* tc_rdbpot(tc_srdhm_m(x, m), e) for m in [0, 2^31) and 2 <= e <= 31, given e2 = e - 2: both
 * roundings in one SMLAL. Exact: tc_srdhm_m is floor((x m + 2^30) / 2^31) and the rounding
 * shift floor((x1 + 2^(e-1) - [x1 < 0]) / 2^e); floors of floors over integers nest, so the
 * whole is floor((x m + 2^30 - [x1 < 0] 2^31 + 2^(30+e)) / 2^(31+e)). [x1 < 0] may be taken as
 * [x < 0]: they differ only when x1 = 0 (x m in [-2^30, 0)), where both give 0 for e >= 1. The
 * 2^(30+e) is 2^(e-2) in the high word: (h + 2^(e-2)) >> (e-1) = ((h >> (e-2)) + 1) >> 1,
 * h the high word of x m + 2^30 - [x < 0] 2^31 (RSBS/SBC, SMLAL). tests/test_runtime_requant.py
 * checks it against tinycompress.quant on random and edge values. */
TC_INLINE int32_t tc_requant_1r(int32_t x, int32_t m, int e2)
{
    const int64_t v = INT64_C(0x40000000) - ((int64_t)(x < 0) << 31) + (int64_t)x * m;
    return (((int32_t)(v >> 32) >> e2) + 1) >> 1;
}

/* ---- Depthwise requantisation with the output zero point folded in (the DSP
 * DEPTHWISE_CONV_2D kernels, templates/cores/dsp/kernels/depthwise_conv_2d_s8_w16.c.j2) ---- */

/* tc_requant_dr_rshift(x, m, -e) + zp for |x| < 2^30, m in [0, 2^31) and 1 <= e <= 31, given
 * kz = 2^(e-1) + zp 2^e with |kz| < 2^30 (the sum then stays within int32): one high multiply,
 * one add and one shift. Exact: the rounding shift of x1 = tc_srdhm_m(x, m) is
 * floor((x1 + 2^(e-1) - [x1 < 0]) / 2^e) (ties away from zero), adding zp is adding zp 2^e inside
 * the floor, and [x1 < 0] may be taken as [x < 0] (they differ only when x1 = 0, where both give
 * zp). The DSP kernels get x1 + kz - [x < 0] as one SMMLAR of 2x (floor((2 x m + 2^31) / 2^32)
 * is tc_srdhm_m) accumulating kz - [x < 0]; the compiler checks both bounds, and
 * tests/test_runtime_requant.py the identity. */
TC_INLINE int32_t tc_requant_1rz(int32_t x, int32_t m, int32_t kz, int e)
{
    return (tc_srdhm_m(x, m) + kz - (x < 0)) >> e;
}

/* TFLite MultiplyByQuantizedMultiplier as built with TFLITE_SINGLE_ROUNDING (the reference
 * interpreter's build): round(x * multiplier * 2^(shift - 31)) with one rounding, half up.
 * shift is in [-31, 30]. */
TC_INLINE int32_t tc_mul_by_qm(int32_t x, int32_t multiplier, int shift)
{
    const int total_shift = 31 - shift;
    const int64_t round = INT64_C(1) << (total_shift - 1);
    return (int32_t)(((int64_t)x * (int64_t)multiplier + round) >> total_shift);
}

/* ---- gemmlowp fixed-point helpers for SOFTMAX (fixedpoint.h, TFLite GetReciprocal) ---- */

/* Count of leading zero bits of a 32-bit value (32 for 0). */
TC_INLINE int tc_clz32(uint32_t x)
{
#if defined(__GNUC__)
    return x ? __builtin_clz(x) : 32;
#else
    int n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & UINT32_C(0x80000000)) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/* Leading zero bits of a nonzero 32-bit value. */
TC_INLINE int tc_clz32_nz(uint32_t x)
{
#if defined(__GNUC__)
    return __builtin_clz(x);
#else
    return tc_clz32(x);
#endif
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for 0 < exponent < 31: saturating x * 2^e. */
TC_INLINE int32_t tc_sat_shl(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 a in [0, 1) -> Q0.31 1 / (1 + a), by three
 * Newton-Raphson steps in Q2.29 from the 48/17 - 32/17 d estimate. */
TC_INLINE int32_t tc_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX; /* RoundingHalfSum(a, One) */
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + tc_srdhm(half_denominator, -1010580540);
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus_half_denominator_times_x =
            (INT32_C(1) << 29) - tc_srdhm(half_denominator, x);
        x = x + tc_sat_shl(tc_srdhm(x, one_minus_half_denominator_times_x), 2);
    }
    return tc_sat_shl(x, 1);
}

/* TFLite GetReciprocal: for x > 0 in Q(x_integer_digits), the Q0.31 value 2^n / x in [0.5, 1)
 * and n = *num_bits_over_unit. */
TC_INLINE int32_t tc_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit)
{
    const int headroom_plus_one = tc_clz32((uint32_t)x);
    const uint32_t shifted = (uint32_t)((uint64_t)(uint32_t)x << headroom_plus_one);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return tc_one_over_one_plus_x((int32_t)(shifted - UINT32_C(0x80000000)));
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl: Q0.31 a in [-1/4, 0) ->
 * Q0.31 exp(a), the Taylor expansion to x^4 / 24 around -1/8 (x = a + 1/8). No operand is
 * INT32_MIN, so tc_srdhm_m is exact, and every sum stays within int32 (the result is below
 * 2^31 - 400 over the whole interval). */
TC_INLINE int32_t tc_exp_on_quarter_interval(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8), Q0.31 */
    const int32_t one_third = 715827883;             /* 1/3, Q0.31 */
    const int32_t x = a + (INT32_C(1) << 28);
    const int32_t x2 = tc_srdhm_m(x, x);
    const int32_t x3 = tc_srdhm_m(x2, x);
    const int32_t x4 = tc_srdhm_m(x2, x2);
    /* x^4 / 24 + x^3 / 6 + x^2 / 2 = ((x^4 / 4 + x^3) / 3 + x^2) / 2 */
    const int32_t poly = tc_rdbpot(tc_srdhm_m(tc_rdbpot(x4, 2) + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + tc_srdhm_m(exp_minus_one_eighth, x + poly);
}

/* gemmlowp exp_on_negative_values<5>: Q5.26 a <= 0 -> Q0.31 exp(a). a = r - k with r in
 * [-1/4, 0) and k a multiple of 1/4: exp(r) by the polynomial above, then one multiply by
 * exp(-2^j / 4) for every bit 24 + j (j = 0..6, i.e. 1/4 .. 16) set in the raw k. Defined for any int32 a (the bit arithmetic is unsigned);
 * TFLite's SOFTMAX only passes a >= -31 * 2^26 (CalculateInputRadius). Kept out of line: the
 * SOFTMAX kernel calls it twice per element, and one copy is what saves flash over a table. */
TC_NOINLINE int32_t tc_exp_on_negative_q5(int32_t a)
{
    static const int32_t barrel[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1) */
        290630308,  /* exp(-2) */
        39332535,   /* exp(-4) */
        720401,     /* exp(-8) */
        242,        /* exp(-16) */
    };
    const int32_t quarter = INT32_C(1) << 24; /* 1/4 in Q5.26 */
    const int32_t r = (a & (quarter - 1)) - quarter;
    const uint32_t k = (uint32_t)r - (uint32_t)a; /* r - a, a multiple of 2^24 (1/4) */
    int32_t result;
    int j;
    if (a == 0) {
        return INT32_MAX;
    }
    result = tc_exp_on_quarter_interval(r * 32); /* Q5.26 -> Q0.31, |r| <= 2^24: no overflow */
    for (j = 0; j < 7; ++j) {
        if (k & (UINT32_C(1) << (24 + j))) {
            result = tc_srdhm_m(result, barrel[j]);
        }
    }
    return result;
}

/* ---- gemmlowp 16-bit fixed point for the integer LSTM (UNIDIRECTIONAL_SEQUENCE_LSTM) ----
 * TFLite's integer LSTM evaluates its gates with gemmlowp::logistic and gemmlowp::tanh on
 * FixedPoint<int16_t, N> (Q3.12 gate inputs, Q0.15 outputs; the cell state's tanh with
 * 15 + log2(cell scale) integer bits). These helpers reproduce gemmlowp's int16 arithmetic:
 * values are int16 raws held in int32_t; + and - wrap to 16 bits as gemmlowp's int16 Add/Sub
 * do (tc_wrap16), products are SaturatingRoundingDoublingHighMul<int16_t> (tc_srdhm16), and
 * the 32-bit constants are rounded to 16 bits as gemmlowp's RescaleConstantInitializer does.
 * tests/test_op_lstm.py compares them with gemmlowp itself over every int16 input. */

/* x reduced to 16 bits, two's complement (int16 Add/Sub/Neg wrap). */
TC_INLINE int32_t tc_wrap16(int32_t x)
{
    return (int32_t)(((uint32_t)x + UINT32_C(0x8000)) & UINT32_C(0xFFFF)) - 0x8000;
}

/* SaturatingRoundingDoublingHighMul<int16_t>: (a * b + nudge) / 2^15, truncating. */
TC_INLINE int32_t tc_srdhm16(int32_t a, int32_t b)
{
    const int32_t ab = a * b;
    if (a == -32768 && b == -32768) {
        return 32767;
    }
    return (ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15);
}

/* SaturatingRoundingMultiplyByPOT<e>, 0 < e < 15, on an int16 raw: a saturating left shift. */
TC_INLINE int32_t tc_sat_shl16(int32_t x, int e)
{
    const int32_t threshold = (1 << (15 - e)) - 1;
    return x > threshold ? 32767 : (x < -threshold ? -32768 : x * (1 << e));
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.15: exp(a) for a in
 * [-1/4, 0) by the Taylor expansion around -1/8. */
TC_INLINE int32_t tc_exp_quarter16(int32_t a)
{
    const int32_t constant_term = 28918; /* exp(-1/8) */
    const int32_t one_third = 10923;
    const int32_t x = tc_wrap16(a + 4096); /* a + 1/8 */
    const int32_t x2 = tc_srdhm16(x, x);
    const int32_t x3 = tc_srdhm16(x2, x);
    const int32_t x4 = tc_srdhm16(x2, x2);
    const int32_t sum = tc_wrap16(tc_srdhm16(tc_wrap16(tc_rdbpot(x4, 2) + x3), one_third) + x2);
    const int32_t poly = tc_rdbpot(sum, 1); /* x^4 / 24 + x^3 / 6 + x^2 / 2 */
    return tc_clamp_i32(constant_term + tc_srdhm16(constant_term, tc_wrap16(x + poly)),
                        -32768, 32767);
}

/* gemmlowp exp_on_negative_values<int16_t, ib>: Q(ib).(15 - ib) a <= 0 -> Q0.15 exp(a), for
 * 1 <= ib <= 7: exp of a modulo 1/4 by the polynomial, times exp(-2^j) for every bit of the
 * rest (the barrel shifter). */
TC_NOINLINE int32_t tc_exp_neg16(int32_t a, int ib)
{
    static const int32_t barrel[7] = {25520, 19875, 12055, 4435, 600, 11, 0}; /* exp(-2^j) */
    const int fractional_bits = 15 - ib;
    const int32_t quarter = 1 << (fractional_bits - 2);
    const int32_t a_mod = tc_wrap16((a & (quarter - 1)) - quarter);
    const int32_t remainder = tc_wrap16(a_mod - a);
    int32_t result = tc_exp_quarter16(ib > 0 ? tc_sat_shl16(a_mod, ib) : a_mod);
    int j;
    for (j = 0; j < 7 && j - 2 < ib; ++j) {
        if (remainder & (1 << (fractional_bits + j - 2))) {
            result = tc_srdhm16(result, barrel[j]);
        }
    }
    if (ib > 5 && a < -(1 << (20 - ib))) { /* below -32 */
        result = 0;
    }
    return a == 0 ? 32767 : result;
}

/* The Newton-Raphson division gemmlowp's logistic and tanh share: x ~ 1 / (1 + a) in Q2.13
 * for a Q0.15 a in [0, 1), from 48/17 - 32/17 (a + 1) / 2 and three iterations. */
TC_INLINE int32_t tc_recip_one_plus16(int32_t a)
{
    const int32_t sum = a + 32767; /* RoundingHalfSum(a, 1) */
    const int32_t half_denominator = (sum + (sum >= 0 ? 1 : -1)) / 2;
    int32_t x = tc_wrap16(23130 + tc_srdhm16(half_denominator, -15420));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = tc_wrap16(8192 - tc_srdhm16(half_denominator, x));
        x = tc_wrap16(x + tc_sat_shl16(tc_srdhm16(x, one_minus), 2));
    }
    return x;
}

/* gemmlowp::logistic on FixedPoint<int16_t, 3>: Q3.12 -> Q0.15. */
TC_NOINLINE int32_t tc_logistic_q3_16(int32_t a)
{
    const int32_t abs_a = a > 0 ? a : tc_wrap16(-a);
    const int32_t e = tc_exp_neg16(tc_wrap16(-abs_a), 3);         /* exp(-|a|) */
    const int32_t positive = tc_sat_shl16(tc_recip_one_plus16(e), 1); /* 1 / (1 + e) */
    if (a == 0) {
        return 16384;
    }
    return a > 0 ? positive : tc_wrap16(32767 - positive);
}

/* gemmlowp::tanh on FixedPoint<int16_t, ib>, 0 <= ib <= 6: Q(ib).(15 - ib) -> Q0.15. */
TC_NOINLINE int32_t tc_tanh16(int32_t a, int ib)
{
    const int32_t n = a < 0 ? a : tc_wrap16(-a);
    const int32_t e = tc_exp_neg16(n, ib + 1); /* exp(-2|a|) */
    const int32_t t = tc_sat_shl16(tc_wrap16(tc_recip_one_plus16(e) - 8192), 2); /* (1-e)/(1+e) */
    if (a == 0) {
        return 0;
    }
    return a < 0 ? tc_wrap16(-t) : t;
}


/* ---- LOG_SOFTMAX and L2_NORMALIZATION: TFLite's fixed-point log and inverse square root ----
 * (reference_integer_ops::LogSoftmax, GetInvSqrtQuantizedMultiplierExp; gemmlowp FixedPoint
 * values as raw int32, their integer bits in the comments). gemmlowp adds and subtracts
 * FixedPoint values with plain int32 arithmetic; tc_wadd / tc_wsub wrap as it does, without
 * undefined behaviour. */

TC_INLINE int32_t tc_wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
TC_INLINE int32_t tc_wsub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* TFLite SaturatingRoundingMultiplyByPOTParam for 0 <= exponent < 31: saturating x * 2^e. */
TC_INLINE int32_t tc_sat_shl_param(int32_t x, int exponent)
{
    return exponent == 0 ? x : tc_sat_shl(x, exponent);
}

/* TFLite SaturatingAddNonGemmlowp and SaturatingSub on int32. */
TC_INLINE int32_t tc_sat_add(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

TC_INLINE int32_t tc_sat_sub(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a - b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

/* TFLite log_x_for_x_greater_than_or_equal_to_1<5>(FixedPoint<int32, 12>): Q12.19 x (a sum of
 * exponentials, >= 1) -> Q5.26 log(x). x = 2^k * r with r normalised two ways (r_a in
 * [1/2, 1) times sqrt(1/2), r_b with sqrt(1/2) taken first), the smaller r and the larger
 * exponent kept; log(x) = k log 2 + a rational approximation of log(r) around 2^(-1/4),
 * accumulated in Q6.25 and returned doubled to Q5.26. */
TC_NOINLINE int32_t tc_log_q12_to_q5(int32_t x)
{
    const int32_t log_2 = 1488522236;          /* log(2), Q0.31 */
    const int32_t sqrt_sqrt_half = 1805811301; /* 2^(-1/4) */
    const int32_t sqrt_half = 1518500250;      /* 2^(-1/2) */
    const int32_t alpha_n = 117049297;         /* 11/240 * 2^(1/4) */
    const int32_t alpha_d = 127690142;         /* 1/20 * 2^(1/4) */
    const int32_t alpha_i = 1057819769;        /* 2 / 2^(1/4) - 2^(1/4) */
    const int32_t alpha_f = 638450708;         /* 1/4 * 2^(1/4) */
    const int32_t shifted_quarter = INT32_C(1) << 23; /* 1/4 in Q6.25 */
    const int z_a_headroom_plus_1 = tc_clz32((uint32_t)x);
    const int32_t r_a = tc_sat_shl_param(
        tc_srdhm(tc_sat_shl_param(x, z_a_headroom_plus_1 - 1), sqrt_half), 1);
    const int32_t z_a_pow_2_adj =
        tc_sat_add(tc_sat_shl_param(12 - z_a_headroom_plus_1, 25), shifted_quarter);
    const int32_t z_b = tc_srdhm(x, sqrt_half);
    const int z_b_headroom = tc_clz32((uint32_t)z_b) - 1;
    const int32_t r_b = tc_sat_shl_param(x, z_b_headroom);
    const int32_t z_b_pow_2_adj =
        tc_sat_sub(tc_sat_shl_param(12 - z_b_headroom, 25), shifted_quarter);
    const int32_t r = r_a < r_b ? r_a : r_b;
    const int32_t z_pow_2_adj = z_a_pow_2_adj > z_b_pow_2_adj ? z_a_pow_2_adj : z_b_pow_2_adj;
    const int64_t half_sum = (int64_t)r + sqrt_sqrt_half; /* RoundingHalfSum(r, 2^(-1/4)) */
    const int32_t p = (int32_t)((half_sum + (half_sum >= 0 ? 1 : -1)) / 2);
    const int32_t q = tc_wadd(tc_wsub(r, sqrt_sqrt_half), tc_wsub(r, sqrt_sqrt_half));
    const int32_t common_sq = tc_srdhm(q, q);
    const int32_t num = tc_wadd(tc_srdhm(q, r), tc_srdhm(tc_srdhm(q, common_sq), alpha_n));
    const int32_t denom_minus_one = tc_wadd(
        tc_srdhm(p, tc_wadd(tc_wadd(alpha_i, q), tc_srdhm(alpha_d, common_sq))),
        tc_srdhm(alpha_f, q));
    const int32_t recip_denom = tc_one_over_one_plus_x(denom_minus_one);
    const int32_t num_scaled = tc_rdbpot(num, 6); /* Q0.31 -> Q6.25 */
    return tc_sat_shl(tc_wadd(tc_srdhm(z_pow_2_adj, log_2), tc_srdhm(num_scaled, recip_denom)),
                      1);
}

/* TFLite GetInvSqrtQuantizedMultiplierExp(acc, reverse_shift = -1): for a sum of squares
 * acc >= 0, a multiplier m (Q0.31) and a shift s <= 0 with m * 2^s ~ 1 / sqrt(acc) (0 and 1 give
 * INT32_MAX, 0). acc is brought into [2^27, 2^29) by pairs of bits, then five Newton-Raphson
 * steps x <- 3/2 x - acc/2 x^3 from x = 1 in Q3.28. */
TC_NOINLINE int32_t tc_inv_sqrt(int32_t acc, int *shift)
{
    const int32_t half_three = (INT32_C(1) << 28) + (INT32_C(1) << 27); /* 1.5, Q3.28 */
    int32_t half_input;
    int32_t x = INT32_C(1) << 28; /* 1, Q3.28 */
    int s = 11;
    int pairs;
    int i;
    if (acc <= 1) {
        *shift = 0;
        return INT32_MAX;
    }
    while (acc >= (INT32_C(1) << 29)) {
        acc /= 4;
        ++s;
    }
    pairs = (tc_clz32((uint32_t)acc) - 1) / 2 - 1;
    s -= pairs;
    acc = (int32_t)((uint32_t)acc << (2 * pairs));
    half_input = tc_rdbpot(acc >> 1, 1);
    for (i = 0; i < 5; ++i) {
        const int32_t x3 = tc_sat_shl(tc_srdhm(tc_srdhm(x, x), x), 6); /* Q9 -> Q3 */
        x = tc_sat_shl(tc_wsub(tc_srdhm(half_three, x), tc_srdhm(half_input, x3)), 3);
    }
    x = tc_srdhm(x, 1518500250); /* times sqrt(2) / 2 */
    if (s < 0) {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *shift = -s;
    return x;
}

/* ---- Cortex-M DSP extension (M4, M7, M33, M55): used by templates/cores/dsp kernels only ---- */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP

/* Bytes 1 and 3 of x sign-extended to two int16 (SXTB16 with the ROR #8 folded in; gcc 12's
 * arm_acle.h has no such form and does not fuse __sxtb16(__ror(x, 8))). */
TC_INLINE int32_t tc_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* A 32-bit load from any address (one LDR on cores with unaligned access). */
TC_INLINE int32_t tc_ld32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* n4 groups of four int8 at x widened to int16 pairs at xw, each group as (x0, x2), (x1, x3):
 * the order __sxtb16 / tc_sxtb16_ror8 give the weights, so SMLAD pairs them term by term. */
TC_INLINE void tc_widen_s8(const int8_t *x, int32_t *xw, int n4)
{
    for (; n4 > 0; --n4, x += 4, xw += 2) {
        const int32_t v = tc_ld32(x);
        xw[0] = __sxtb16(v);
        xw[1] = tc_sxtb16_ror8(v);
    }
}

/* acc[r] += sum over k < 4 * n4 of w_r[k] * x[k], r = 0..3, x widened by tc_widen_s8 at xw
 * and the four weight rows interleaved by groups of four values (row 0 k0..3, row 1 k0..3,
 * row 2, row 3, row 0 k4..7, ...: tinycompress/ops/_dsp.py). Kept out of line: inlined into a
 * model's invoke function, gcc 12 spills the accumulators. */
#define TC_DOT4_BODY(LOAD)                                                                     \
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];                                \
    for (; n4 > 0; --n4, xw += 2, w += 16) {                                                   \
        const int32_t xl = xw[0], xh = xw[1];                                                  \
        int32_t v;                                                                             \
        v = LOAD(0);                                                                           \
        a0 = __smlad(__sxtb16(v), xl, a0);                                                     \
        a0 = __smlad(tc_sxtb16_ror8(v), xh, a0);                                               \
        v = LOAD(1);                                                                           \
        a1 = __smlad(__sxtb16(v), xl, a1);                                                     \
        a1 = __smlad(tc_sxtb16_ror8(v), xh, a1);                                               \
        v = LOAD(2);                                                                           \
        a2 = __smlad(__sxtb16(v), xl, a2);                                                     \
        a2 = __smlad(tc_sxtb16_ror8(v), xh, a2);                                               \
        v = LOAD(3);                                                                           \
        a3 = __smlad(__sxtb16(v), xl, a3);                                                     \
        a3 = __smlad(tc_sxtb16_ror8(v), xh, a3);                                               \
    }                                                                                          \
    acc[0] = a0;                                                                               \
    acc[1] = a1;                                                                               \
    acc[2] = a2;                                                                               \
    acc[3] = a3

#define TC_DOT4_LOAD(r) tc_ld32(w + 4 * (r))

static __attribute__((noinline, unused)) void tc_dot4_s8(const int32_t *xw, const int8_t *w,
                                                        int n4, int32_t *acc)
{
    TC_DOT4_BODY(TC_DOT4_LOAD);
}

/* tc_dot4_s8 with w 4-byte aligned: the same memcpy loads (int8 weights are never read through
 * an int32_t pointer, C's aliasing rule), the alignment told to gcc so that it pairs them
 * (LDRD); the loop runs to an end pointer, which gcc 12 keeps in a register (counting n4 down,
 * it spilled it: one load more per iteration, measured on kws under QEMU). */
static __attribute__((noinline, unused)) void tc_dot4a_s8(const int32_t *xw, const int8_t *w,
                                                         int n4, int32_t *acc)
{
    const int8_t *const end = (const int8_t *)__builtin_assume_aligned(w, 4) + 16 * n4;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (w = __builtin_assume_aligned(w, 4); w != end; xw += 2, w += 16) {
        const int32_t xl = xw[0], xh = xw[1];
        int32_t v = tc_ld32(w);
        a0 = __smlad(__sxtb16(v), xl, a0);
        a0 = __smlad(tc_sxtb16_ror8(v), xh, a0);
        v = tc_ld32(w + 4);
        a1 = __smlad(__sxtb16(v), xl, a1);
        a1 = __smlad(tc_sxtb16_ror8(v), xh, a1);
        v = tc_ld32(w + 8);
        a2 = __smlad(__sxtb16(v), xl, a2);
        a2 = __smlad(tc_sxtb16_ror8(v), xh, a2);
        v = tc_ld32(w + 12);
        a3 = __smlad(__sxtb16(v), xl, a3);
        a3 = __smlad(tc_sxtb16_ror8(v), xh, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Two int8 vectors a and b of 4 * n4 values widened for tc_dot2x2_s8: per group of four, a's
 * two int16 pairs then b's (four words). */
TC_INLINE void tc_widen2_s8(const int8_t *a, const int8_t *b, int32_t *xw, int n4)
{
    for (; n4 > 0; --n4, a += 4, b += 4, xw += 4) {
        const int32_t u = tc_ld32(a), v = tc_ld32(b);
        xw[0] = __sxtb16(u);
        xw[1] = tc_sxtb16_ror8(u);
        xw[2] = __sxtb16(v);
        xw[3] = tc_sxtb16_ror8(v);
    }
}

/* Two weight rows times two vectors (widened together by tc_widen2_s8): acc[0] += row 0 . a,
 * acc[1] += row 0 . b, acc[2] += row 1 . a, acc[3] += row 1 . b. Row 0's groups of four are at
 * w, w + 16, ... and row 1's 4 bytes after them: rows 0-1 or 2-3 of a block of the interleaved
 * layout (tinycompress/ops/_dsp.py). Each weight word unpacked once serves both vectors. */
static __attribute__((noinline, unused)) void tc_dot2x2_s8(const int32_t *xw, const int8_t *w,
                                                          int n4, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    for (; n4 > 0; --n4, xw += 4, w += 16) {
        const int32_t al = xw[0], ah = xw[1], bl = xw[2], bh = xw[3];
        int32_t v = tc_ld32(w), u;
        u = __sxtb16(v);
        a00 = __smlad(u, al, a00);
        a01 = __smlad(u, bl, a01);
        u = tc_sxtb16_ror8(v);
        a00 = __smlad(u, ah, a00);
        a01 = __smlad(u, bh, a01);
        v = tc_ld32(w + 4);
        u = __sxtb16(v);
        a10 = __smlad(u, al, a10);
        a11 = __smlad(u, bl, a11);
        u = tc_sxtb16_ror8(v);
        a10 = __smlad(u, ah, a10);
        a11 = __smlad(u, bh, a11);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* int4 weights (two a byte, low nibble first; tinycompress/ops/_weight_formats.py) on the DSP:
 * n8 groups of eight int8 at x widened to int16 pairs in the order tc_dot1_s4 takes the nibbles
 * of a 32-bit word: (x0, x4), (x2, x6), (x1, x5), (x3, x7). */
TC_INLINE void tc_widen_s4(const int8_t *x, int32_t *xw, int n8)
{
    for (; n8 > 0; --n8, x += 8, xw += 4) {
        const uint32_t a = (uint32_t)__sxtb16(tc_ld32(x)), b = (uint32_t)tc_sxtb16_ror8(tc_ld32(x));
        const uint32_t c = (uint32_t)__sxtb16(tc_ld32(x + 4));
        const uint32_t d = (uint32_t)tc_sxtb16_ror8(tc_ld32(x + 4));
        xw[0] = (int32_t)((a & 0xFFFFu) | (c << 16));
        xw[1] = (int32_t)((a >> 16) | (c & 0xFFFF0000u));
        xw[2] = (int32_t)((b & 0xFFFFu) | (d << 16));
        xw[3] = (int32_t)((b >> 16) | (d & 0xFFFF0000u));
    }
}

/* acc + 16 * sum over k < 8 * n8 of w[k] * x[k]: w int4, 8 a word starting on a byte, x widened
 * by tc_widen_s4. Each byte's nibbles are masked in place (the high one as is, the low one
 * shifted up) and SXTB16 sign-extends them as 16 * w: no shift per weight; the caller divides
 * the sum by 16 once (exact: every term is a multiple of 16, and it is checked at compile time
 * that 16 * the largest sum fits int32). */
static __attribute__((noinline, unused)) int32_t tc_dot1_s4(const int32_t *xw, const uint8_t *w,
                                                           int n8, int32_t acc)
{
    for (; n8 > 0; --n8, xw += 4, w += 4) {
        const uint32_t v = (uint32_t)tc_ld32(w);
        const int32_t lo = (int32_t)((v << 4) & 0xF0F0F0F0u), hi = (int32_t)(v & 0xF0F0F0F0u);
        acc = __smlad(__sxtb16(lo), xw[0], acc);
        acc = __smlad(tc_sxtb16_ror8(lo), xw[1], acc);
        acc = __smlad(__sxtb16(hi), xw[2], acc);
        acc = __smlad(tc_sxtb16_ror8(hi), xw[3], acc);
    }
    return acc;
}

/* tc_dot1_s4 of two rows, at w and w + stride, sharing the vector's loads: acc[0] and acc[1]. */
static __attribute__((noinline, unused)) void tc_dot2_s4(const int32_t *xw, const uint8_t *w,
                                                        int stride, int n8, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1];
    const uint8_t *u = w + stride;
    for (; n8 > 0; --n8, xw += 4, w += 4, u += 4) {
        const int32_t x0 = xw[0], x1 = xw[1], x2 = xw[2], x3 = xw[3];
        uint32_t v = (uint32_t)tc_ld32(w);
        int32_t lo = (int32_t)((v << 4) & 0xF0F0F0F0u), hi = (int32_t)(v & 0xF0F0F0F0u);
        a0 = __smlad(__sxtb16(lo), x0, a0);
        a0 = __smlad(tc_sxtb16_ror8(lo), x1, a0);
        a0 = __smlad(__sxtb16(hi), x2, a0);
        a0 = __smlad(tc_sxtb16_ror8(hi), x3, a0);
        v = (uint32_t)tc_ld32(u);
        lo = (int32_t)((v << 4) & 0xF0F0F0F0u);
        hi = (int32_t)(v & 0xF0F0F0F0u);
        a1 = __smlad(__sxtb16(lo), x0, a1);
        a1 = __smlad(tc_sxtb16_ror8(lo), x1, a1);
        a1 = __smlad(__sxtb16(hi), x2, a1);
        a1 = __smlad(tc_sxtb16_ror8(hi), x3, a1);
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* One row: acc + sum over k < 4 * n4 of w[k] * x[k], x widened at xw. */
static __attribute__((noinline, unused)) int32_t tc_dot1_s8(const int32_t *xw, const int8_t *w,
                                                           int n4, int32_t acc)
{
    for (; n4 > 0; --n4, xw += 2, w += 4) {
        const int32_t v = tc_ld32(w);
        acc = __smlad(__sxtb16(v), xw[0], acc);
        acc = __smlad(tc_sxtb16_ror8(v), xw[1], acc);
    }
    return acc;
}
#endif

/* ---- Cortex-M DSP depthwise (templates/cores/dsp/kernels/depthwise_conv_2d_s8_w16.c.j2) ----
 * tc_requant_1rz in three instructions (ADD, SMMLAR, ASR) as one asm block, so that gcc
 * requantises one output after the other instead of interleaving four. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* tc_requant_1rz(x, m, kz, e & 255) given x2 = 2x (|x| < 2^30). */
TC_INLINE int32_t tc_requant_1rz_dsp(int32_t x2, int32_t m, int32_t kz, int32_t e)
{
    int32_t ra, r;
    __asm__("add %0, %2, %3, asr #31\n\t"
            "smmlar %1, %3, %4, %0\n\t"
            "asr %1, %1, %5"
            : "=&r"(ra), "=&r"(r) : "r"(kz), "r"(x2), "r"(m), "r"(e));
    return r;
}

/* A = tc_requant_1rz(A / 2, m, kz, E & 255) for A = 2x (|x| < 2^30), m and kz the two words at W
 * (post-incremented). TC_DW_REQUANT_X2: the same for A = x (one LSL more). */
#define TC_DW_REQUANT_(A, W, E, DOUBLE)                                                        \
    do {                                                                                       \
        int32_t m_, kz_;                                                                       \
        __asm__("ldrd %[m], %[kz], [%[w]], #8\n\t"                                            \
                "add %[kz], %[kz], %[a], asr #31\n\t"                                         \
                DOUBLE                                                                         \
                "smmlar %[a], %[a], %[m], %[kz]\n\t"                                          \
                "asr %[a], %[a], %[e]"                                                         \
                : [a] "+r"(A), [w] "+r"(W), [m] "=&r"(m_), [kz] "=&r"(kz_)                     \
                : [e] "r"(E)                                                                   \
                : "memory");                                                                   \
    } while (0)
#define TC_DW_REQUANT(A, W, E) TC_DW_REQUANT_(A, W, E, "")
#define TC_DW_REQUANT_X2(A, W, E) TC_DW_REQUANT_(A, W, E, "lsl %[a], %[a], #1\n\t")

/* One pair of depthwise taps for four channels (ops/_dsp.py dw_tap_pairs): the taps' input
 * words at b0 + o0 and b1 + o1 (o0, o1 constants within +-4095 or registers) joined by PKHBT / PKHTB
 * so that SXTB16 and SXTB16 ROR #8 give each channel's (tap, next tap) int16 pair, one SMLAD per
 * channel against the weights at w (post-incremented): int16 pairs (TC_DW_PAIR_W16, two LDRD)
 * or int8 words unpacked the same way (TC_DW_PAIR_W8, one LDRD). 8 MACs in 14 / 17
 * instructions. One asm block, so that gcc keeps the four accumulators in registers. */
#define TC_DW_PAIR_W16(B0, O0, B1, O1, W, A0, A1, A2, A3)                                     \
    do {                                                                                       \
        int32_t x0_, x1_, s_, wl_, wh_;                                                        \
        __asm__("ldr %[x0], [%[b0], %[o0]]\n\t"                                               \
                "ldr %[x1], [%[b1], %[o1]]\n\t"                                               \
                "ldrd %[wl], %[wh], [%[w]], #8\n\t"                                           \
                "pkhbt %[s], %[x0], %[x1], lsl #16\n\t"                                       \
                "pkhtb %[x1], %[x1], %[x0], asr #16\n\t"                                      \
                "sxtb16 %[x0], %[s]\n\t"                                                      \
                "smlad %[a0], %[x0], %[wl], %[a0]\n\t"                                        \
                "sxtb16 %[x0], %[s], ror #8\n\t"                                              \
                "smlad %[a1], %[x0], %[wh], %[a1]\n\t"                                        \
                "ldrd %[wl], %[wh], [%[w]], #8\n\t"                                           \
                "sxtb16 %[x0], %[x1]\n\t"                                                     \
                "smlad %[a2], %[x0], %[wl], %[a2]\n\t"                                        \
                "sxtb16 %[x0], %[x1], ror #8\n\t"                                             \
                "smlad %[a3], %[x0], %[wh], %[a3]"                                             \
                : [a0] "+r"(A0), [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3), [w] "+r"(W),     \
                  [x0] "=&r"(x0_), [x1] "=&r"(x1_), [s] "=&r"(s_), [wl] "=&r"(wl_),            \
                  [wh] "=&r"(wh_)                                                              \
                : [b0] "r"(B0), [o0] "rJ"(O0), [b1] "r"(B1), [o1] "rJ"(O1)                       \
                : "memory");                                                                   \
    } while (0)

#define TC_DW_ADDR(b, o) ((b) + (o)) /* a tap given as the pair macros take it */

#define TC_DW_PAIR_W8(B0, O0, B1, O1, W, A0, A1, A2, A3)                                      \
    do {                                                                                       \
        int32_t x0_, x1_, s_, t_, wl_, wh_;                                                    \
        __asm__("ldr %[x0], [%[b0], %[o0]]\n\t"                                               \
                "ldr %[x1], [%[b1], %[o1]]\n\t"                                               \
                "ldrd %[wl], %[wh], [%[w]], #8\n\t"                                           \
                "pkhbt %[s], %[x0], %[x1], lsl #16\n\t"                                       \
                "pkhtb %[x1], %[x1], %[x0], asr #16\n\t"                                      \
                "sxtb16 %[x0], %[s]\n\t"                                                      \
                "sxtb16 %[t], %[wl]\n\t"                                                      \
                "smlad %[a0], %[x0], %[t], %[a0]\n\t"                                         \
                "sxtb16 %[x0], %[s], ror #8\n\t"                                              \
                "sxtb16 %[t], %[wl], ror #8\n\t"                                              \
                "smlad %[a1], %[x0], %[t], %[a1]\n\t"                                         \
                "sxtb16 %[x0], %[x1]\n\t"                                                     \
                "sxtb16 %[t], %[wh]\n\t"                                                      \
                "smlad %[a2], %[x0], %[t], %[a2]\n\t"                                         \
                "sxtb16 %[x0], %[x1], ror #8\n\t"                                             \
                "sxtb16 %[t], %[wh], ror #8\n\t"                                              \
                "smlad %[a3], %[x0], %[t], %[a3]"                                              \
                : [a0] "+r"(A0), [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3), [w] "+r"(W),     \
                  [x0] "=&r"(x0_), [x1] "=&r"(x1_), [s] "=&r"(s_), [t] "=&r"(t_),              \
                  [wl] "=&r"(wl_), [wh] "=&r"(wh_)                                             \
                : [b0] "r"(B0), [o0] "rJ"(O0), [b1] "r"(B1), [o1] "rJ"(O1)                       \
                : "memory");                                                                   \
    } while (0)

/* n4 words from src to dst, four a step (a row of the depthwise kernel's ring of padded input
 * rows; any alignment: LDR / STR). */
TC_INLINE void tc_dw_copy_row(int8_t *dst, const int8_t *src, int n4)
{
    for (; n4 >= 4; n4 -= 4, src += 16, dst += 16) {
        const int32_t v0 = tc_ld32(src), v1 = tc_ld32(src + 4);
        const int32_t v2 = tc_ld32(src + 8), v3 = tc_ld32(src + 12);
        memcpy(dst, &v0, 4);
        memcpy(dst + 4, &v1, 4);
        memcpy(dst + 8, &v2, 4);
        memcpy(dst + 12, &v3, 4);
    }
    for (; n4 > 0; --n4, src += 4, dst += 4) {
        const int32_t v = tc_ld32(src);
        memcpy(dst, &v, 4);
    }
}

/* The low halves of a and b as one word (PKHBT): with a, b four int8 each, bytes a0 a1 b0 b1,
 * whose SXTB16 is (a0, b0) and SXTB16 ROR #8 (a1, b1). */
TC_INLINE int32_t tc_pkhbt16(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* The high halves of b and a as one word (PKHTB): bytes b2 b3 a2 a3, whose SXTB16 is (b2, a2)
 * and SXTB16 ROR #8 (b3, a3). */
TC_INLINE int32_t tc_pkhtb16(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#endif

/* A dot product out of line (noinline: one copy however many layers call it): `n4` groups of
 * STEP (a statement macro that consumes one group of inputs xw, `bytes` of them, and weights w
 * into a0..a3), one first when n4 is odd, then two a pass; acc[0..3] in and out. Four rows
 * times one vector (8 input bytes a group), or two rows times two vectors (16). */
#define TC_DEFINE_DOT(name, STEP, bytes)                                                        \
    static __attribute__((noinline, unused)) void name(const int8_t *xw, const int32_t *w,      \
                                                       int n4, int32_t *acc)                    \
    {                                                                                           \
        int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];                             \
        const int8_t *end = xw + (bytes) * n4;                                                  \
        if (n4 & 1) {                                                                           \
            STEP;                                                                               \
        }                                                                                       \
        while (xw != end) {                                                                     \
            STEP;                                                                               \
            STEP;                                                                               \
        }                                                                                       \
        acc[0] = a0;                                                                            \
        acc[1] = a1;                                                                            \
        acc[2] = a2;                                                                            \
        acc[3] = a3;                                                                            \
    }

/* ---- Cortex-M DSP, int16 weights (the templates/cores/dsp kernels named _w16) ----
 * The weights are widened to int16 pairs at compile time (tinycompress/ops/_dsp.py,
 * layout_w16), so the inner loops only load and multiply: two words a load (LDRD with
 * post-increment, inline asm: gcc 12 does not pair the loads itself) and one SMLAD per two
 * MACs. Inputs are widened once per vector into scratch, read as raw words by the asm, written
 * by memcpy (no aliasing of the int8 arena). Every buffer read here is 4-byte aligned. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TC_LDRD_PI(p, lo, hi) \
    __asm__ volatile("ldrd %0, %1, [%2], #8" : "=r"(lo), "=r"(hi), "+r"(p) : : "memory")

TC_INLINE void tc_st32(void *p, int32_t v)
{
    memcpy(p, &v, 4);
}

/* n4 groups of four int8 at x widened to two int16-pair words each at xw ((x0, x2), (x1, x3),
 * the order of layout_w16's weight words), `stride` bytes from one group's words to the next. */
TC_INLINE void tc_widen_w16(const int8_t *x, int8_t *xw, int n4, int stride)
{
    for (; n4 > 0; --n4, x += 4, xw += stride) {
        const int32_t v = tc_ld32(x);
        tc_st32(xw, __sxtb16(v));
        tc_st32(xw + 4, tc_sxtb16_ror8(v));
    }
}

/* Two weight rows times two vectors: acc[0] += r0.a, acc[1] += r0.b, acc[2] += r1.a,
 * acc[3] += r1.b. Per group of four values: xw holds a's two words then b's, w r0's two words
 * then r1's. 16 MACs in 13 instructions (the loop unrolled by two). */
#define TC_DOT2X2_W16_STEP                                                                     \
    do {                                                                                       \
        int32_t al, ah, bl, bh, w0, w1;                                                        \
        TC_LDRD_PI(xw, al, ah);                                                                \
        TC_LDRD_PI(xw, bl, bh);                                                                \
        TC_LDRD_PI(w, w0, w1);                                                                 \
        a0 = __smlad(w0, al, a0);                                                              \
        a0 = __smlad(w1, ah, a0);                                                              \
        a1 = __smlad(w0, bl, a1);                                                              \
        a1 = __smlad(w1, bh, a1);                                                              \
        TC_LDRD_PI(w, w0, w1);                                                                 \
        a2 = __smlad(w0, al, a2);                                                              \
        a2 = __smlad(w1, ah, a2);                                                              \
        a3 = __smlad(w0, bl, a3);                                                              \
        a3 = __smlad(w1, bh, a3);                                                              \
    } while (0)

TC_DEFINE_DOT(tc_dot2x2_w16, TC_DOT2X2_W16_STEP, 16)

/* Four weight rows times one vector: acc[r] += row r . x. Per group of four values: xw holds
 * x's two words, w rows 0..3's two words each. 16 MACs in 14 instructions. */
#define TC_DOT4X1_W16_STEP                                                                     \
    do {                                                                                       \
        int32_t xl, xh, w0, w1;                                                                \
        TC_LDRD_PI(xw, xl, xh);                                                                \
        TC_LDRD_PI(w, w0, w1);                                                                 \
        a0 = __smlad(w0, xl, a0);                                                              \
        a0 = __smlad(w1, xh, a0);                                                              \
        TC_LDRD_PI(w, w0, w1);                                                                 \
        a1 = __smlad(w0, xl, a1);                                                              \
        a1 = __smlad(w1, xh, a1);                                                              \
        TC_LDRD_PI(w, w0, w1);                                                                 \
        a2 = __smlad(w0, xl, a2);                                                              \
        a2 = __smlad(w1, xh, a2);                                                              \
        TC_LDRD_PI(w, w0, w1);                                                                 \
        a3 = __smlad(w0, xl, a3);                                                              \
        a3 = __smlad(w1, xh, a3);                                                              \
    } while (0)

TC_DEFINE_DOT(tc_dot4x1_w16, TC_DOT4X1_W16_STEP, 8)
#endif

/* ---- Cortex-M DSP, int8 weights in the w16 blocking (the templates/cores/dsp kernels named _w8)
 * The same passes as tc_dot2x2_w16 / tc_dot4x1_w16 over int8 weights (half the flash): per row
 * and group of four values one word of four int8 (tinycompress/ops/_dsp.py, layout_w8, the
 * block's rows adjacent so one LDRD loads two), unpacked with SXTB16 and SXTB16 ROR #8 into the
 * pairs (w0, w2), (w1, w3) that match tc_widen_w16's inputs. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* One word loaded with post-increment (the depthwise _w8 kernel's weights). */
#define TC_LDR_PI(p, v) __asm__ volatile("ldr %0, [%1], #4" : "=r"(v), "+r"(p) : : "memory")

/* 16 MACs in 15 instructions: three LDRD, four SXTB16, eight SMLAD. */
#define TC_DOT2X2_W8_STEP                                                                      \
    do {                                                                                       \
        int32_t al, ah, bl, bh, r0, r1, u;                                                     \
        TC_LDRD_PI(xw, al, ah);                                                                \
        TC_LDRD_PI(xw, bl, bh);                                                                \
        TC_LDRD_PI(w, r0, r1);                                                                 \
        u = __sxtb16(r0);                                                                      \
        a0 = __smlad(u, al, a0);                                                               \
        a1 = __smlad(u, bl, a1);                                                               \
        u = tc_sxtb16_ror8(r0);                                                                \
        a0 = __smlad(u, ah, a0);                                                               \
        a1 = __smlad(u, bh, a1);                                                               \
        u = __sxtb16(r1);                                                                      \
        a2 = __smlad(u, al, a2);                                                               \
        a3 = __smlad(u, bl, a3);                                                               \
        u = tc_sxtb16_ror8(r1);                                                                \
        a2 = __smlad(u, ah, a2);                                                               \
        a3 = __smlad(u, bh, a3);                                                               \
    } while (0)

/* tc_dot2x2_w16's contract with int8 weight words: per group, r0's word then r1's. */
TC_DEFINE_DOT(tc_dot2x2_w8, TC_DOT2X2_W8_STEP, 16)

/* One row's word unpacked and multiplied into a. */
#define TC_W8_ROW(a, r)                                                                        \
    do {                                                                                       \
        a = __smlad(__sxtb16(r), xl, a);                                                       \
        a = __smlad(tc_sxtb16_ror8(r), xh, a);                                                 \
    } while (0)

/* 16 MACs in 19 instructions: three LDRD, eight SXTB16, eight SMLAD. */
#define TC_DOT4X1_W8_STEP                                                                      \
    do {                                                                                       \
        int32_t xl, xh, r0, r1;                                                                \
        TC_LDRD_PI(xw, xl, xh);                                                                \
        TC_LDRD_PI(w, r0, r1);                                                                 \
        TC_W8_ROW(a0, r0);                                                                     \
        TC_W8_ROW(a1, r1);                                                                     \
        TC_LDRD_PI(w, r0, r1);                                                                 \
        TC_W8_ROW(a2, r0);                                                                     \
        TC_W8_ROW(a3, r1);                                                                     \
    } while (0)

/* tc_dot4x1_w16's contract with int8 weight words: per group, rows 0..3's words. */
TC_DEFINE_DOT(tc_dot4x1_w8, TC_DOT4X1_W8_STEP, 8)
#endif

/* ---- Cortex-M DSP convolutions: requantisation in one SMMLAR, doubled inputs ----
 * (tinycompress/ops/_dsp_requant.py derives the constants and proves the identity; the kernels
 * accumulate 2 * acc: the bias and the int16 weights, or the widened inputs, doubled.) */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* k + the high word of a * b + 2^31 (SMMLAR: gcc 12 has no intrinsic for it). */
TC_INLINE int32_t tc_smmlar(int32_t a, int32_t b, int32_t k)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(k));
    return r;
}

/* k + the high word of a * b (SMMLA, floored). */
TC_INLINE int32_t tc_smmla(int32_t a, int32_t b, int32_t k)
{
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(k));
    return r;
}

/* rdbpot(srdhm(a, m), e) (+ zp when k holds it) of the doubled accumulator x2 = 2a, e >= 1. */
TC_INLINE int32_t tc_requant_mr(int32_t x2, int32_t m, int32_t k, int e)
{
    return (tc_smmlar(x2, m, k) + (x2 >> 31)) >> e;
}

/* tc_requant_mr where some channel has e = 0: its sign mask f is 0 there (else -1). */
TC_INLINE int32_t tc_requant_mr0(int32_t x2, int32_t m, int32_t k, int e, int32_t f)
{
    return (tc_smmlar(x2, m, k) + ((x2 >> 31) & f)) >> e;
}

/* tc_widen_w16 returning the sum of the n4 * 4 values (SMLAD of each pair with (1, 1)). */
TC_INLINE int32_t tc_widen_w16_sum(const int8_t *x, int8_t *xw, int n4, int stride)
{
    int32_t sum = 0;
    for (; n4 > 0; --n4, x += 4, xw += stride) {
        const int32_t v = tc_ld32(x), lo = __sxtb16(v), hi = tc_sxtb16_ror8(v);
        tc_st32(xw, lo);
        tc_st32(xw + 4, hi);
        sum = __smlad(lo, 0x00010001, __smlad(hi, 0x00010001, sum));
    }
    return sum;
}

/* Four rows times one vector over byte-pair weights (tinycompress/ops/_dsp_bytepairs.py): per
 * group of four values xw holds x's two words, w rows (0, 1)'s two words then rows (2, 3)'s.
 * acc[0] gathers row 0 + 256 row 1 (+ 128 sum(x)) from the raw words, acc[1] row 1 from their
 * SXTB16 ROR #8; acc[2], acc[3] the same for rows 2, 3. 16 MACs in 15 instructions. */
#define TC_DOT4X1_W8P_STEP                                                                     \
    do {                                                                                       \
        int32_t xl, xh, r0, r1;                                                                \
        TC_LDRD_PI(xw, xl, xh);                                                                \
        TC_LDRD_PI(w, r0, r1);                                                                 \
        a0 = __smlad(r0, xl, a0);                                                              \
        a0 = __smlad(r1, xh, a0);                                                              \
        a1 = __smlad(tc_sxtb16_ror8(r0), xl, a1);                                              \
        a1 = __smlad(tc_sxtb16_ror8(r1), xh, a1);                                              \
        TC_LDRD_PI(w, r0, r1);                                                                 \
        a2 = __smlad(r0, xl, a2);                                                              \
        a2 = __smlad(r1, xh, a2);                                                              \
        a3 = __smlad(tc_sxtb16_ror8(r0), xl, a3);                                              \
        a3 = __smlad(tc_sxtb16_ror8(r1), xh, a3);                                              \
    } while (0)

TC_DEFINE_DOT(tc_dot4x1_w8p, TC_DOT4X1_W8P_STEP, 8)

/* The even row's sum from the packed accumulator p (row n + 256 row n + 1) and the odd row's
 * q, modulo 2^32. */
TC_INLINE int32_t tc_unpair(int32_t p, int32_t q)
{
    return (int32_t)((uint32_t)p - ((uint32_t)q << 8));
}

/* tc_widen_w16 with each value doubled (SADD16 of the pair with itself: |2x| <= 256). */
TC_INLINE void tc_widen_w16_x2(const int8_t *x, int8_t *xw, int n4, int stride)
{
    for (; n4 > 0; --n4, x += 4, xw += stride) {
        const int32_t v = tc_ld32(x), lo = __sxtb16(v), hi = tc_sxtb16_ror8(v);
        tc_st32(xw, __sadd16(lo, lo));
        tc_st32(xw + 4, __sadd16(hi, hi));
    }
}
#endif

/* ---- Cortex-M Helium (MVE, M55): used by templates/cores/mve kernels only ---- */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)

/* acc[r] = bias[r] + sum over k < T of w[r * T + k] * x[k] for r < rows: int8 weights row-major,
 * four rows per 16-byte input load, each reduced with VMLADAVA (16 MACs per instruction); the
 * last T % 16 values are loaded under a tail predicate (inactive lanes read as 0, no access). */
static __attribute__((noinline, unused)) void tc_mve_matvec_s8(const int8_t *x, const int8_t *w,
                                                              const int32_t *bias, int32_t *acc,
                                                              int rows, int T)
{
    const int t16 = T >> 4;
    const mve_pred16_t p = vctp8q((uint32_t)(T & 15));
    int n = 0;
    for (; n + 4 <= rows; n += 4, w += 4 * T) {
        const int8_t *w0 = w, *w1 = w + T, *w2 = w1 + T, *w3 = w2 + T, *xp = x;
        int32_t a0 = bias[n], a1 = bias[n + 1], a2 = bias[n + 2], a3 = bias[n + 3];
        int k;
        for (k = t16; k > 0; --k, xp += 16, w0 += 16, w1 += 16, w2 += 16, w3 += 16) {
            const int8x16_t xv = vldrbq_s8(xp);
            a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w0));
            a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1));
            a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2));
            a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3));
        }
        if (T & 15) {
            const int8x16_t xv = vldrbq_z_s8(xp, p);
            a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w0, p));
            a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, p));
            a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2, p));
            a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3, p));
        }
        acc[n] = a0;
        acc[n + 1] = a1;
        acc[n + 2] = a2;
        acc[n + 3] = a3;
    }
    for (rows &= 3; rows > 0; --rows, ++n, w += T) {
        const int8_t *w0 = w, *xp = x;
        int32_t a0 = bias[n];
        int k;
        for (k = t16; k > 0; --k, xp += 16, w0 += 16) {
            a0 = vmladavaq_s8(a0, vldrbq_s8(xp), vldrbq_s8(w0));
        }
        if (T & 15) {
            a0 = vmladavaq_s8(a0, vldrbq_z_s8(xp, p), vldrbq_z_s8(w0, p));
        }
        acc[n] = a0;
    }
}

/* a + sum over j < k of w[j] * x[c[j]]: one csr row (templates/cores/mve/kernels/
 * fully_connected_s8_csr_mve.c.j2), its columns `c` uint16 (8 lanes) or uint8 (16 lanes). A
 * tail-predicated low-overhead loop (WLSTP/LETP: the last k % lanes under the hardware's tail
 * predicate, inactive lanes neither loaded nor summed, k = 0 skips the loop): per vector a
 * column load, a value load, the inputs gathered at the columns and one VMLADAVA, five
 * instructions; LETP's exit resets LTPSIZE to 4 (WLSTP leaves it when k = 0), so code after it
 * is not predicated. Inline asm: gcc 12 emits neither loop form from intrinsics (a counted loop
 * and a VCTP-predicated tail: 26,398 instructions against 20,646 on benchmarks/sparse_fc.py's
 * M55 LeNet-300-100); "Te" is gcc's even core register, which VMLADAVA's accumulator must be,
 * "l" a low one (r0-r7), which the widening loads' base must be. Other compilers take the
 * intrinsics (fully predicated loops). */
#if defined(__GNUC__) && !defined(__clang__)
#define TC_MVE_CSR_DOT(name, ctype, lanes, esz, cld, vld, gld, step)                              \
    TC_INLINE int32_t name(int32_t a, const int8_t *x, const ctype *c, const int8_t *w,          \
                           uint32_t k)                                                           \
    {                                                                                            \
        __asm__("wlstp." #esz " lr, %[k], 2f\n"                                                  \
                "1:\n\t"                                                                        \
                cld " q0, [%[c]], #" #step "\n\t"                                               \
                vld " q1, [%[w]], #" #lanes "\n\t"                                              \
                gld " q2, [%[x], q0]\n\t"                                                       \
                "vmlava.s" #esz " %[a], q2, q1\n\t"                                             \
                "letp lr, 1b\n"                                                                 \
                "2:"                                                                             \
                : [a] "+Te"(a), [c] "+l"(c), [w] "+l"(w)                                         \
                : [k] "r"(k), [x] "r"(x)                                                         \
                : "lr", "q0", "q1", "q2", "memory");                                             \
        return a;                                                                                \
    }
TC_MVE_CSR_DOT(tc_mve_csr_dot_u16, uint16_t, 8, 16, "vldrh.u16", "vldrb.s16", "vldrb.s16", 16)
TC_MVE_CSR_DOT(tc_mve_csr_dot_u8, uint8_t, 16, 8, "vldrb.u8", "vldrb.s8", "vldrb.u8", 16)
#else
#define TC_MVE_CSR_DOT(name, ctype, lanes, vctp, cld, vld, gld, mla)                              \
    TC_INLINE int32_t name(int32_t a, const int8_t *x, const ctype *c, const int8_t *w,          \
                           uint32_t k)                                                           \
    {                                                                                            \
        for (; (int32_t)k > 0; k -= lanes, c += lanes, w += lanes) {                             \
            const mve_pred16_t p = vctp(k);                                                      \
            a = mla(a, gld(x, cld(c, p), p), vld(w, p));                                         \
        }                                                                                        \
        return a;                                                                                \
    }
TC_MVE_CSR_DOT(tc_mve_csr_dot_u16, uint16_t, 8, vctp16q, vldrhq_z_u16, vldrbq_z_s16,
               vldrbq_gather_offset_z_s16, vmladavaq_s16)
TC_MVE_CSR_DOT(tc_mve_csr_dot_u8, uint8_t, 16, vctp8q, vldrbq_z_u8, vldrbq_z_s8,
               vldrbq_gather_offset_z_s8, vmladavaq_s8)
#endif

/* gemmlowp's double-rounding requantisation of four lanes, as tc_srdhm / tc_rdbpot: v shifted
 * left by max(s, 0) (wrapping), VQRDMULH (= SaturatingRoundingDoublingHighMul, ties included),
 * then RoundingDivideByPOT by max(-s, 0) as gemmlowp's own NEON code does it: VRSHL rounds half
 * up, so negative values are first moved down by one (saturating; the and with the negative
 * shift isolates the sign only when the shift is nonzero). */
TC_INLINE int32x4_t tc_mve_requant_dr(int32x4_t v, int32x4_t m, int32x4_t s)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t r = vminq_s32(s, zero);
    v = vshlq_s32(v, vmaxq_s32(s, zero));
    v = vqrdmulhq_s32(v, m);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, r), 31));
    return vrshlq_s32(v, r);
}

/* tc_mve_requant_dr when every lane's shift is <= 0 (a right shift; most layers): the left
 * shift by max(s, 0) = 0 and min(s, 0) = s drop out. */
TC_INLINE int32x4_t tc_mve_requant_dr_right(int32x4_t v, int32x4_t m, int32x4_t s)
{
    v = vqrdmulhq_s32(v, m);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, s), 31));
    return vrshlq_s32(v, s);
}

/* TFLite's single rounding (tc_mul_by_qm, FULLY_CONNECTED) of four lanes for shifts <= -1:
 * with t = 31 - shift >= 32 the rounding constant 2^(t-1) is a whole multiple of 2^31, so the
 * floors nest, floor((x m + 2^(t-1)) / 2^t) = floor((floor(x m / 2^31) + 2^(t-32)) / 2^(t-31)):
 * VQDMULH (floor(2 x m / 2^32), saturating only for m = x = INT32_MIN, and m >= 0), then VRSHL
 * by the negative shift (round half up, the sum taken without overflow). For shift 0 it is
 * VQRDMULH, floor((x m + 2^30) / 2^31). Then + zp, clamped, stored. mult/shift: per channel
 * (tc_mve_requant_sr_pc_s8, every shift <= -1) or one (tc_mve_requant_sr_pt_s8, shift <= 0). */
static __attribute__((noinline, unused)) void tc_mve_requant_sr_pc_s8(const int32_t *acc,
                                                                     int8_t *y, int n,
                                                                     const int32_t *mult,
                                                                     const int8_t *shift,
                                                                     int32_t zp, int32_t lo,
                                                                     int32_t hi)
{
    for (; n > 0; n -= 4, acc += 4, y += 4, mult += 4, shift += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        int32x4_t v = vrshlq_s32(vqdmulhq_s32(vldrwq_z_s32(acc, p), vldrwq_z_s32(mult, p)),
                                 vldrbq_z_s32(shift, p));
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), vdupq_n_s32(lo)), vdupq_n_s32(hi));
        vstrbq_p_s32(y, v, p);
    }
}

static __attribute__((noinline, unused)) void tc_mve_requant_sr_pt_s8(const int32_t *acc,
                                                                     int8_t *y, int n,
                                                                     int32_t mult, int shift,
                                                                     int32_t zp, int32_t lo,
                                                                     int32_t hi)
{
    for (; n > 0; n -= 4, acc += 4, y += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        const int32x4_t a = vldrwq_z_s32(acc, p);
        int32x4_t v = shift ? vrshlq_n_s32(vqdmulhq_n_s32(a, mult), shift)
                            : vqrdmulhq_n_s32(a, mult);
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), vdupq_n_s32(lo)), vdupq_n_s32(hi));
        vstrbq_p_s32(y, v, p);
    }
}

/* y[i] = clamp(requant(acc[i], mult[i], shift[i]) + zp, lo, hi) for i < n, four at a time. */
static __attribute__((noinline, unused)) void tc_mve_requant_pc_s8(const int32_t *acc, int8_t *y,
                                                                  int n, const int32_t *mult,
                                                                  const int8_t *shift, int32_t zp,
                                                                  int32_t lo, int32_t hi)
{
    for (; n > 0; n -= 4, acc += 4, y += 4, mult += 4, shift += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        int32x4_t v = tc_mve_requant_dr(vldrwq_z_s32(acc, p), vldrwq_z_s32(mult, p),
                                        vldrbq_z_s32(shift, p));
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), vdupq_n_s32(lo)), vdupq_n_s32(hi));
        vstrbq_p_s32(y, v, p);
    }
}

/* The same with one multiplier and shift for every channel. */
static __attribute__((noinline, unused)) void tc_mve_requant_pt_s8(const int32_t *acc, int8_t *y,
                                                                  int n, int32_t mult, int shift,
                                                                  int32_t zp, int32_t lo,
                                                                  int32_t hi)
{
    const int32x4_t m = vdupq_n_s32(mult), s = vdupq_n_s32(shift);
    for (; n > 0; n -= 4, acc += 4, y += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        int32x4_t v = tc_mve_requant_dr(vldrwq_z_s32(acc, p), m, s);
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), vdupq_n_s32(lo)), vdupq_n_s32(hi));
        vstrbq_p_s32(y, v, p);
    }
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* TC_RUNTIME_H */
