"""Fashion-MNIST IDX reader and .npz loader."""

import gzip
import struct

import numpy as np
import pytest

from tinycompress.datasets import FASHION_MNIST_ROOT, load_fashion_mnist, load_npz, read_idx
from tinycompress.errors import UserError

needs_fashion = pytest.mark.skipif(
    not (FASHION_MNIST_ROOT / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist not installed")


def _write_idx(path, arr):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def _fake_root(tmp_path, n=5, prefix="t10k", label_max=9):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = (np.arange(n) % (label_max + 1)).astype(np.uint8)
    _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", x)
    _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", y)
    return x, y


@needs_fashion
@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_real_files(split, n):
    x, y = load_fashion_mnist(split)
    assert x.shape == (n, 28, 28) and x.dtype == np.uint8
    assert y.shape == (n,) and y.dtype == np.uint8
    assert set(np.unique(y).tolist()) == set(range(10))
    assert np.bincount(y).tolist() == [n // 10] * 10  # Fashion-MNIST is balanced
    assert x.max() == 255 and x.min() == 0


@needs_fashion
def test_fashion_mnist_t10k_alias_and_known_first_labels():
    _, y = load_fashion_mnist("t10k")
    assert y[:5].tolist() == [9, 2, 1, 1, 6]


def test_fashion_mnist_root_argument_and_env(tmp_path, monkeypatch):
    x, y = _fake_root(tmp_path)
    gx, gy = load_fashion_mnist("test", root=tmp_path)
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)
    monkeypatch.setenv("TINYCOMPRESS_FASHION_MNIST", str(tmp_path))
    gx, _ = load_fashion_mnist("test")
    np.testing.assert_array_equal(gx, x)


def test_fashion_mnist_missing_names_debian_package(tmp_path):
    with pytest.raises(UserError, match="dataset-fashion-mnist") as e:
        load_fashion_mnist("train", root=tmp_path / "nowhere")
    assert "\n" not in str(e.value)


def test_fashion_mnist_bad_split():
    with pytest.raises(UserError, match="split 'val'.*train, test"):
        load_fashion_mnist("val")


def test_fashion_mnist_label_out_of_range(tmp_path):
    _fake_root(tmp_path, n=12, label_max=11)
    with pytest.raises(UserError, match="label 11 out of range 0..9"):
        load_fashion_mnist("test", root=tmp_path)


def test_read_idx_rejects_truncated_and_bad_magic(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    p = tmp_path / "a.gz"
    _write_idx(p, arr)
    np.testing.assert_array_equal(read_idx(p), arr)
    raw = gzip.decompress(p.read_bytes())
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(UserError, match="payload is 11 bytes, header says 12"):
        read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x01" + raw[1:])
    with pytest.raises(UserError, match="bad magic"):
        read_idx(tmp_path / "magic")


def test_load_npz_ok(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((4, 3), np.float32), y=np.arange(4))
    x, y = load_npz(p, require_y=True)
    assert x.shape == (4, 3) and y.tolist() == [0, 1, 2, 3]
    np.savez(p, x=np.ones((2, 5), np.int8))
    x, y = load_npz(p)
    assert y is None and x.dtype == np.int8


@pytest.mark.parametrize("case,pattern", [
    ("missing", "not found"),
    ("no_x", r"no array 'x' \(has: a, b\)"),
    ("no_y", "no array 'y'"),
    ("mismatch", r"'y' has shape \(3,\) but 'x' has 4 samples"),
    ("empty", "at least one sample"),
    ("strings", "dtype <U1"),
    ("npy", "single .npy array"),
    ("garbage", "cannot read"),
])
def test_load_npz_errors(tmp_path, case, pattern):
    p = tmp_path / "d.npz"
    if case == "no_x":
        np.savez(p, a=np.zeros(1), b=np.zeros(1))
    elif case == "no_y":
        np.savez(p, x=np.zeros((4, 2)))
    elif case == "mismatch":
        np.savez(p, x=np.zeros((4, 2)), y=np.zeros(3))
    elif case == "empty":
        np.savez(p, x=np.zeros((0, 2)))
    elif case == "strings":
        np.savez(p, x=np.array(["a", "b"]))
    elif case == "npy":
        with open(p, "wb") as f:
            np.save(f, np.zeros(3))
    elif case == "garbage":
        p.write_bytes(b"not a zip file at all")
    with pytest.raises(UserError, match=pattern) as e:
        load_npz(p, require_y=(case == "no_y"))
    assert "\n" not in str(e.value)


def test_check_holdout_refuses_class_sorted_splits_and_passes_fair_ones():
    from tinycompress.datasets import check_holdout

    y = np.repeat(np.arange(10), 100)  # sorted by class
    with pytest.raises(UserError, match=r"holds out every sample of class 0, so fine-tuning would never see it"):
        check_holdout(y[100:], y[:100], "the first 100", "--val VAL.npz")
    with pytest.raises(UserError, match=r"holds out no sample of class 1, 2, 3, 4, 5 and 4 more .*give --val"):
        check_holdout(np.repeat(np.arange(10), 300)[150:], np.zeros(150, int), "the first 150", "--val VAL.npz")
    shuffled = np.random.default_rng(0).permutation(y)
    check_holdout(shuffled[100:], shuffled[:100], "the first 100", "--val VAL.npz")
    # a class too rare to be expected in the held-out samples, and non-class targets, pass
    rare = np.concatenate([shuffled, [10] * 9])
    check_holdout(rare[100:], rare[:100], "the first 100", "--val VAL.npz")
    check_holdout(np.sort(np.random.default_rng(1).normal(size=50)), np.zeros(5), "x", "y")
