"""int4 weights under QEMU (Cortex-M4F): FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D with odd
row lengths (rows starting in a high nibble) and odd channel counts, cross-compiled with the
core's flags and compared bit for bit with the reference interpreter: the portable kernels, and
the DSP kernels (tc_dot2_s4: two rows a pass; with odd rows, pairs of rows two apart and the odd
rows against the vector widened from its second element)."""

from __future__ import annotations

import numpy as np
import pytest

from optest import QEMU_MARKS, assert_bit_exact_on_qemu
from test_int4 import int8_fc, nibbles
from test_weight_formats import conv, dw, fc
from tinycompress.compress.int4 import quantize_int4

pytestmark = QEMU_MARKS

BOARD = "mps2-an386"  # Cortex-M4F


@pytest.mark.parametrize("rows,cols,batch", [(5, 37, 2), (3, 8, 1), (7, 6, 1), (4, 99, 1)])
def test_fc(rows, cols, batch):
    m = assert_bit_exact_on_qemu(fc(nibbles(rows, cols, seed=cols), True, batch,
                                    bias_range=(-300, 300)), BOARD, weights="int4", count=3)
    assert m["layers"][0]["weight_format"] == "int4"


@pytest.mark.parametrize("shape,geo", [((5, 3, 3, 3), {}), ((7, 5, 5, 1), dict(h=8, wd=7, padding="VALID")),
                                       ((3, 3, 3, 2), dict(h=7, wd=8, stride=(2, 1)))])
def test_conv(shape, geo):
    w = nibbles(shape[0], int(np.prod(shape[1:])), seed=shape[0]).reshape(shape)
    assert_bit_exact_on_qemu(conv(w, **geo), BOARD, weights="int4", count=3)


@pytest.mark.parametrize("rows,k,geo", [(7, 3, {}), (6, 3, dict(dm=2, h=7, wd=8, stride=(2, 2))),
                                        (5, 5, dict(h=9, wd=8, padding="VALID"))])
def test_dw(rows, k, geo):
    assert_bit_exact_on_qemu(dw(nibbles(rows, k * k, seed=rows), k, k, **geo), BOARD,
                             weights="int4", count=3)


def dsp(tflite: bytes) -> dict:
    m = assert_bit_exact_on_qemu(tflite, BOARD, weights="int4", count=3, portable=False)
    assert m["layers"][0]["weight_format"] == "int4" and m["layers"][0]["variant"] == "dsp_s4"
    return m


@pytest.mark.parametrize("rows,cols,batch", [(5, 37, 2), (4, 16, 1), (3, 6, 1), (1, 1, 1),
                                             (4, 25, 1), (7, 25, 1), (8, 7, 2), (2, 33, 1)])
def test_fc_dsp(rows, cols, batch):
    dsp(fc(nibbles(rows, cols, seed=cols), cols % 2 == 1, batch,
           in_zp=-128 if cols % 3 == 0 else 5))


@pytest.mark.parametrize("shape,geo", [
    ((5, 3, 3, 3), {}), ((7, 5, 5, 1), dict(h=8, wd=7, padding="VALID")),
    ((6, 5, 5, 1), dict(h=10, wd=10)), ((4, 5, 5, 6), dict(h=9, wd=9, padding="VALID", in_zp=-128)),
    ((3, 3, 3, 2), dict(h=7, wd=8, stride=(2, 1), dilation=(1, 2))),
    ((3, 1, 1, 9), dict(per_channel=False)), ((2, 3, 3, 4), dict(batch=2, h=5, wd=5))])
def test_conv_dsp(shape, geo):
    dsp(conv(nibbles(shape[0], int(np.prod(shape[1:])), seed=shape[0]).reshape(shape), **geo))


def test_4_bit_model_with_the_cores_kernels():
    q, _ = quantize_int4(int8_fc(seed=3, rows=9, cols=45), "rtn")
    dsp(q)


def test_cortex_m55_takes_the_dsp_int4_kernels():
    """A Helium core has the DSP extension too: FULLY_CONNECTED and CONV_2D take dsp_s4."""
    for tfl in (fc(nibbles(5, 37), True), conv(nibbles(5, 25).reshape(5, 5, 5, 1), h=8, wd=8)):
        m = assert_bit_exact_on_qemu(tfl, "mps3-an547", weights="int4", count=2, portable=False)
        assert m["layers"][0]["variant"] == "dsp_s4"
