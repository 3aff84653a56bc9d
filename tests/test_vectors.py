"""Test vectors for verify (tinycompress/vectors.py): random rows by the input's dtype, and user
data quantised to an int8 or int16 input."""

import numpy as np

from tinycompress.vectors import draw, quantize_input, random_rows

INT16 = {"dtype": "int16", "size": 96, "shape": [1, 96], "scale": 0.000625, "zero_point": 0}
INT8 = {"dtype": "int8", "size": 16, "shape": [1, 16], "scale": 0.05, "zero_point": -3}


def test_random_rows_cover_the_input_range():
    x = random_rows(INT16, 200, np.random.default_rng(0))
    assert x.dtype == np.int16 and x.shape == (200, 96)
    assert x.min() < -32000 and x.max() > 32000  # the whole int16 range, not a few values
    y = random_rows(INT8, 200, np.random.default_rng(0))
    assert y.dtype == np.int8 and y.min() == -128 and y.max() == 127
    # int8 rows are the draws check.py made before random_rows existed
    again = np.random.default_rng(0).integers(-128, 128, (200, 16)).astype(np.int8)
    np.testing.assert_array_equal(y, again)


def test_draw_int16_without_data(tmp_path):
    x = draw({"input": INT16}, tmp_path, 20)
    assert x.dtype == np.int16 and x.shape == (20, 96) and len(np.unique(x)) > 1000


def test_quantize_input_float_to_int16_and_int8():
    data = np.array([[0.0, 0.000625, -0.0003, 20.5, -21.0] + [0.0] * 91])
    q = quantize_input(data, INT16)
    assert q.dtype == np.int16
    assert q[0, :5].tolist() == [0, 1, 0, 32767, -32768]  # rounded to nearest, clipped
    ints = np.arange(96, dtype=np.int16)[None, :]
    np.testing.assert_array_equal(quantize_input(ints, INT16), ints)  # integers as they are
    q8 = quantize_input(np.array([[0.05] * 16]), INT8)
    assert q8.dtype == np.int8 and q8[0, 0] == -2
