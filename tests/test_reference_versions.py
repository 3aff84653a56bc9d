"""The converter writes operator versions newer than the reference interpreter registers (TILE 3,
DEPTH_TO_SPACE 2 from TensorFlow 2.21): the reference runs them as the newest version it has and
says so, and the C stays bit-exact against it."""

import numpy as np
import pytest

from optest import assert_bit_exact
from tflite_builder import T, model
from tinycompress.errors import UserError
from tinycompress.reference import Reference


def _tile(version: int) -> bytes:
    return model("TILE", [T((1, 3, 4), scale=0.1, zero_point=2),
                          T((3,), "int32", data=np.array([1, 2, 3], np.int32))],
                 [T((1, 6, 12), scale=0.1, zero_point=2)], version=version)


def test_newer_version_runs_as_the_newest_registered():
    ref = Reference(_tile(3))
    assert any(n.startswith("TILE version 3 run as version") for n in ref.normalised)
    x = np.arange(12, dtype=np.int8).reshape(1, 3, 4)
    assert np.array_equal(ref.run([x])[0].reshape(6, 12), np.tile(x[0], (2, 3)))


def test_registered_version_is_run_as_given():
    assert Reference(_tile(1)).normalised == []


def test_newer_version_is_bit_exact():
    assert_bit_exact(_tile(3), count=8, spread={"min_distinct": 32})


def test_unknown_operator_is_one_user_error():
    m = model("TILE", [T((1, 4), scale=0.1)], [T((1, 4), scale=0.1)])  # missing multiples
    with pytest.raises(UserError, match="reference interpreter"):
        Reference(m)
