"""SUB int8: bit-exact against the reference interpreter over broadcast shapes, constant
operands, fused activations and quantisation parameters, the tie cases that tell subtracting the
rescaled operand from negating its multiplier, and the DSP and Helium kernels under QEMU."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu, compile_problems
from test_op_add import SHAPES, binary_model
from tflite_builder import T, model
from tinycompress.ops._elementwise import ADD_LEFT_SHIFT, add_multipliers
from tinycompress.quant import rounding_divide_by_pot, saturating_rounding_doubling_high_mul

# Outputs of (0.05, -3) - (0.1, 7) at scale 0.1 span the int8 range with little clamping.
QO = (0.1, 2)


@pytest.mark.parametrize("shape1,shape2", SHAPES)
def test_sub_broadcast(shape1, shape2):
    spread = {} if np.prod(np.broadcast_shapes(shape1, shape2)) >= 60 else None
    assert_bit_exact(binary_model("SUB", shape1, shape2, qo=QO), spread=spread)


def test_sub_operand_order():
    """x - y, not y - x: the same operands swapped give other outputs."""
    a = binary_model("SUB", (1, 4, 4, 8), (1, 4, 4, 8), q1=(0.1, 7), q2=(0.1, 7), qo=(0.2, 0))
    assert_bit_exact(a, spread={})


@pytest.mark.parametrize("act", ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
def test_sub_activations(act):
    assert_bit_exact(binary_model("SUB", (1, 6, 6, 8), (1, 6, 6, 8), act=act,
                                  q1=(0.0394, -128), q2=(0.104, 4), qo=(0.051, -128)),
                     spread={"min_distinct": 16, "max_clamped": 0.6})


@pytest.mark.parametrize("const", [(True, False), (False, True)])
@pytest.mark.parametrize("shape1,shape2", [((1, 4, 4, 8), (1, 1, 1, 8)), ((1, 4, 4, 8), ()),
                                           ((1, 4, 4, 8), (1, 4, 4, 8))])
def test_sub_constant_operand(const, shape1, shape2):
    assert_bit_exact(binary_model("SUB", shape1, shape2, const=const, qo=QO))


@pytest.mark.parametrize("q1,q2,qo", [
    ((0.05, 127), (0.05, -128), (0.1, 127)),     # extreme zero points
    ((0.02, -128), (0.5, 127), (0.25, -128)),    # very different input scales
    ((0.5, 0), (0.02, 0), (0.25, 0)),            # the larger scale first
    ((0.1, 5), (0.1, 5), (0.0008, 0)),           # output multiplier close to 1
])
def test_sub_quantisations(q1, q2, qo):
    assert_bit_exact(binary_model("SUB", (1, 5, 5, 7), (1, 5, 5, 7), q1=q1, q2=q2, qo=qo))


def test_sub_refuses_bad_shapes_activation_and_scales():
    problems = compile_problems(binary_model("SUB", (1, 4, 4), (1, 4, 4), act="TANH"))
    assert any("SUB (op 0" in p and "TANH" in p for p in problems)
    problems = compile_problems(model("SUB", [T((1, 4, 4), scale=0.1), T((1, 3, 4), scale=0.1)],
                                      [T((1, 4, 4), scale=0.1)],
                                      {"fused_activation_function": "NONE"}))
    assert any("SUB (op 0" in p and "do not broadcast" in p for p in problems)
    problems = compile_problems(binary_model("SUB", (4,), (4,), q1=(1.0, 0), q2=(1.0, 0),
                                             qo=(2.0 ** -24, 0)))
    assert any("SUB (op 0" in p and f"output scale {2.0 ** -24} is too small" in p
               and "output multiplier >= 1" in p for p in problems)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s1=st.floats(1e-3, 1.0), s2=st.floats(1e-3, 1.0), so=st.floats(1e-2, 2.0),
       z1=st.integers(-128, 127), z2=st.integers(-128, 127), zo=st.integers(-128, 127),
       act=st.sampled_from(["NONE", "RELU", "RELU6"]), bshape=st.sampled_from(
           [(1, 3, 4, 5), (1, 1, 1, 5), (1, 3, 4, 1), (5,), ()]), seed=st.integers(0, 99))
def test_sub_random_quantisation(s1, s2, so, z1, z2, zo, act, bshape, seed):
    assert_bit_exact(binary_model("SUB", (1, 3, 4, 5), bshape, act=act, q1=(s1, z1),
                                  q2=(s2, z2), qo=(so, zo), seed=seed), count=8, sanitize=False)


# Found by search (3 elements in 200,000 random quantisations): the second operand's rescale
# meets a tie, where subtracting SRDHM(x, m) and adding SRDHM(x, -m) give different outputs.
TIE_CASES = [
    ((0.4460493326187134, -82), (0.38053348660469055, 103), (0.684583842754364, 77), [-5], [115]),
    ((0.3499452471733093, -62), (0.1422199159860611, 100), (0.5382351279258728, 8), [-77], [12]),
    ((0.315794974565506, 70), (0.2923819124698639, 3), (0.4002101719379425, 14), [58, 82],
     [40, -34]),
]


def _negated_multiplier_sub(q1, q2, qo, x1, x2):
    """What SUB gave as ADD with the second multiplier negated (the older sub.cc)."""
    (m1, e1), (m2, e2), (mo, eo) = add_multipliers(q1[0], q2[0], qo[0])

    def rescale(x, m, e):
        return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, m), -e)
    s1 = rescale((x1 - q1[1]) << ADD_LEFT_SHIFT, m1, e1)
    s2 = rescale((x2 - q2[1]) << ADD_LEFT_SHIFT, -m2, e2)
    return max(-128, min(127, rescale(s1 + s2, mo, eo) + qo[1]))


@pytest.mark.parametrize("q1,q2,qo,a,b", TIE_CASES)
def test_sub_rescaled_operand_is_subtracted(q1, q2, qo, a, b):
    from tinycompress.reference import Reference

    n = len(a)
    m = binary_model("SUB", (n,), (n,), q1=q1, q2=q2, qo=qo)
    expected = Reference(m).run([np.array(a, np.int8), np.array(b, np.int8)])[0]
    assert all(_negated_multiplier_sub(q1, q2, qo, x, y) != e for x, y, e in zip(a, b, expected))
    assert_bit_exact(m, inputs=[np.array([a], np.int8), np.array([b], np.int8)])


CORE_CASES = [
    ("mps2-an386", (1, 6, 6, 8), (1, 6, 6, 8), (0.05, -3), (0.1, 7), (0.12, 2), (False, True)),
    ("mps2-an386", (1, 4, 4, 6), (1, 1, 1, 6), (0.1, 0), (0.1, 20), (0.05, 9), (True, False)),
    ("mps3-an547", (1, 5, 3, 7), (1, 5, 3, 7), (0.02, 100), (0.1, -128), (0.03, -5),
     (True, False)),
    ("mps3-an547", (3, 5), (3, 5), (0.1, 0), (0.003, 20), (0.05, 9), (False, True)),
]


@pytest.mark.parametrize("board,shape1,shape2,q1,q2,qo,const", [
    pytest.param(*c, marks=QEMU_MARKS, id=i)
    for c, i in zip(CORE_CASES, ["dsp", "dsp-broadcast", "mve", "mve-small"])])
def test_sub_on_cores(board, shape1, shape2, q1, q2, qo, const):
    """ADD's DSP and Helium templates subtract too (one operand constant: the QEMU harness feeds
    one input)."""
    manifest = assert_bit_exact_on_qemu(binary_model("SUB", shape1, shape2, q1=q1, q2=q2, qo=qo,
                                                     const=const), board)
    assert manifest["kernel_families"][0] == ("mve" if board == "mps3-an547" else "dsp")
    if board == "mps3-an547":
        assert manifest["layers"][0]["kernel"] == "kernels/add_s8_mve.c.j2"
