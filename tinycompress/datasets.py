"""Local datasets: Fashion-MNIST from the Debian package, and user .npz files.

Nothing here downloads. Fashion-MNIST is read from the IDX files that the Debian
package ``dataset-fashion-mnist`` installs under ``/usr/share/datasets/fashion-mnist``;
the environment variable ``TINYCOMPRESS_FASHION_MNIST`` points elsewhere.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from tinycompress.errors import UserError

__all__ = ["FASHION_MNIST_ROOT", "FASHION_MNIST_CLASSES", "check_holdout", "load_fashion_mnist", "load_npz",
           "load_train_test", "read_idx"]

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV = "TINYCOMPRESS_FASHION_MNIST"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_SPLITS = {"train": ("train", 60000), "test": ("t10k", 10000), "t10k": ("t10k", 10000)}

# IDX type codes (http://yann.lecun.com/exdb/mnist/): only unsigned bytes are needed here,
# the others are accepted so that read_idx is a complete reader.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read IDX file {path}: {e}; reinstall the file or point to another copy") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise UserError(f"{path} is not an IDX file (bad magic); expected the Fashion-MNIST/MNIST IDX format")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise UserError(f"{path}: unknown IDX type code 0x{type_code:02x}; expected one of "
                        + ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES))
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: truncated IDX header; the file is damaged, reinstall it")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != count * dtype.itemsize:
        raise UserError(f"{path}: IDX payload is {len(data) - header} bytes, header says "
                        f"{count * dtype.itemsize}; the file is damaged, reinstall it")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("=")) if dtype.byteorder == ">" else arr.copy()


def _fashion_root(root: str | os.PathLike | None) -> Path:
    if root is not None:
        return Path(root)
    env = os.environ.get(FASHION_MNIST_ENV)
    return Path(env) if env else FASHION_MNIST_ROOT


def _find(root: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        p = root / name
        if p.is_file():
            return p
    return None


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load a Fashion-MNIST split as ``(x uint8 [N,28,28], y uint8 [N])``.

    ``split`` is ``"train"`` (60000 images) or ``"test"`` (10000; ``"t10k"`` is an alias).
    ``root`` defaults to ``$TINYCOMPRESS_FASHION_MNIST`` or ``/usr/share/datasets/fashion-mnist``.
    """
    if split not in _SPLITS:
        raise UserError(f"unknown Fashion-MNIST split {split!r}; use one of: train, test")
    prefix, _ = _SPLITS[split]
    base = _fashion_root(root)
    paths = {}
    for kind, stem in (("x", f"{prefix}-images-idx3-ubyte"), ("y", f"{prefix}-labels-idx1-ubyte")):
        p = _find(base, stem)
        if p is None:
            raise UserError(
                f"Fashion-MNIST file {base / (stem + '.gz')} not found; install the Debian package "
                f"dataset-fashion-mnist or set {FASHION_MNIST_ENV} to a directory holding the IDX files")
        paths[kind] = p
    x, y = read_idx(paths["x"]), read_idx(paths["y"])
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise UserError(f"{paths['x']}: images have shape {x.shape} dtype {x.dtype}; expected uint8 [N,28,28]")
    if y.dtype != np.uint8 or y.ndim != 1 or len(y) != len(x):
        raise UserError(f"{paths['y']}: labels have shape {y.shape} dtype {y.dtype}; expected uint8 [{len(x)}]")
    if y.size and int(y.max()) > 9:
        raise UserError(f"{paths['y']}: label {int(y.max())} out of range 0..9; the file is not Fashion-MNIST")
    return x, y


def load_npz(path: str | os.PathLike, require_y: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Load ``x`` (and ``y`` if present) from an .npz file, with one-line errors.

    ``x`` must be numeric with at least one sample axis; ``y``, when present, must have
    the same number of samples. ``require_y=True`` makes a missing ``y`` an error.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file {path} not found; pass an existing .npz file with an array named 'x'")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise UserError(f"cannot read {path} as .npz ({type(e).__name__}: {e}); save it with numpy.savez") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise UserError(f"{path} is a single .npy array, not an .npz; save it with numpy.savez(path, x=..., y=...)")
    with npz:
        names = sorted(npz.files)
        if "x" not in names:
            raise UserError(f"{path} has no array 'x' (has: {', '.join(names) or 'none'}); "
                            f"save inputs as numpy.savez(path, x=..., y=...)")
        try:
            x = npz["x"]
            y = npz["y"] if "y" in names else None
        except ValueError as e:  # object arrays need pickle, which we refuse
            raise UserError(f"{path}: cannot load arrays without pickle ({e}); store numeric arrays only") from None
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: array 'x' has dtype {x.dtype}; expected an integer or float array")
    if x.ndim < 1 or x.shape[0] == 0:
        raise UserError(f"{path}: array 'x' has shape {x.shape}; expected at least one sample along axis 0")
    if y is None:
        if require_y:
            raise UserError(f"{path} has no array 'y' (labels) but they are required here; "
                            f"save as numpy.savez(path, x=..., y=...)")
        return x, None
    if y.dtype.kind not in "biuf":
        raise UserError(f"{path}: array 'y' has dtype {y.dtype}; expected integer labels or float targets")
    if y.ndim < 1 or y.shape[0] != x.shape[0]:
        raise UserError(f"{path}: 'y' has shape {y.shape} but 'x' has {x.shape[0]} samples; "
                        f"'y' needs one entry per sample along axis 0")
    return x, y


def load_inputs(path: str | os.PathLike, count: int) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The input arrays of a model of `count` inputs from an .npz, and ``y`` if present: ``x``
    for one input; ``x0`` ... ``x{count-1}`` (one array a model input, in the manifest's order,
    the same number of samples each) for several."""
    if count == 1:
        x, y = load_npz(path)
        return [x], y
    path = Path(path)
    names = [f"x{k}" for k in range(count)]
    if not path.is_file():
        raise UserError(f"data file {path} not found; pass an existing .npz file with arrays "
                        f"{', '.join(names)}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise UserError(f"cannot read {path} as .npz ({type(e).__name__}: {e}); save it with numpy.savez") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise UserError(f"{path} is a single .npy array, not an .npz; save it with "
                        f"numpy.savez(path, {', '.join(n + '=...' for n in names)})")
    with npz:
        missing = [n for n in names if n not in npz.files]
        if missing:
            raise UserError(f"{path} lacks {', '.join(missing)} (has: {', '.join(sorted(npz.files)) or 'none'}): "
                            f"the model has {count} inputs; save one array each as "
                            f"numpy.savez(path, {', '.join(n + '=...' for n in names)})")
        try:
            xs = [npz[n] for n in names]
            y = npz["y"] if "y" in npz.files else None
        except ValueError as e:
            raise UserError(f"{path}: cannot load arrays without pickle ({e}); store numeric arrays only") from None
    for n, x in zip(names, xs):
        if x.dtype.kind not in "biuf" or x.ndim < 1 or x.shape[0] == 0:
            raise UserError(f"{path}: array '{n}' has dtype {x.dtype} and shape {x.shape}; expected "
                            "numbers with at least one sample along axis 0")
    if len({len(x) for x in xs}) != 1:
        raise UserError(f"{path}: {', '.join(names)} have {', '.join(str(len(x)) for x in xs)} samples; "
                        "give every input the same number of samples")
    if y is not None and (y.ndim < 1 or y.shape[0] != len(xs[0]) or y.dtype.kind not in "biuf"):
        raise UserError(f"{path}: 'y' has shape {y.shape} dtype {y.dtype}; expected numbers, one "
                        f"entry per sample ({len(xs[0])})")
    return xs, y


def load_train_test(path: str | os.PathLike, test_fraction: float = 0.1, seed: int = 0):
    """``(x, y, x_test, y_test)`` from a training .npz: its ``x_test``/``y_test`` arrays when it
    has them, else ``test_fraction`` of ``x``/``y`` held out (a permutation seeded by ``seed``)."""
    x, y = load_npz(path, require_y=True)
    with np.load(Path(path), allow_pickle=False) as npz:
        names = set(npz.files)
        if ("x_test" in names) != ("y_test" in names):
            raise UserError(f"{path} has only one of x_test and y_test; give both, or neither "
                            f"(then {test_fraction:.0%} of x, y is held out)")
        if "x_test" in names:
            xt, yt = npz["x_test"], npz["y_test"]
            if xt.shape[1:] != x.shape[1:] or len(xt) != len(yt) or len(xt) == 0:
                raise UserError(f"{path}: x_test {list(xt.shape)} and y_test {list(yt.shape)} must hold "
                                f"the same number (at least one) of samples shaped like x {list(x.shape[1:])}")
            return x, y, xt, yt
    n_test = int(round(len(x) * test_fraction))
    if n_test < 1 or n_test >= len(x):
        raise UserError(f"{path} has {len(x)} samples: too few to hold out {test_fraction:.0%} for "
                        "testing; add x_test/y_test arrays")
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def check_holdout(y_tune: np.ndarray, y_held: np.ndarray, what: str, fix: str) -> None:
    """Refuses a held-out split (the first samples of a file) that cannot stand for the data: a
    class that only the held-out samples have (fine-tuning would never see it), or one they miss
    although the data has enough of it that a fair split would hold out ten or more (the file
    is sorted by class). Integer class labels only; other targets pass. ``what`` names the split
    ("the first 10% of TRAIN.npz"), ``fix`` the option that avoids it."""
    y_tune, y_held = np.asarray(y_tune), np.asarray(y_held)
    if y_tune.dtype.kind not in "iu" or y_tune.size != len(y_tune) or not len(y_held) or not len(y_tune):
        return
    y_tune, y_held = y_tune.reshape(-1), y_held.reshape(-1)
    tune, held = set(np.unique(y_tune).tolist()), set(np.unique(y_held).tolist())
    only_held = sorted(held - tune)
    if only_held:
        raise UserError(f"{what} holds out every sample of class {_classes(only_held)}, so fine-tuning "
                        f"would never see it: the file looks sorted by class; shuffle it or give {fix}")
    share = len(y_held) / (len(y_held) + len(y_tune))
    counts = dict(zip(*np.unique(y_tune, return_counts=True)))
    missed = sorted(c for c in tune - held if counts[c] * share / (1 - share) >= 10)
    if missed:
        raise UserError(f"{what} holds out no sample of class {_classes(missed)} although a fair split "
                        f"would hold out ten or more: the file looks sorted by class; shuffle it or give {fix}")


def _classes(labels: list) -> str:
    shown = ", ".join(str(c) for c in labels[:5])
    return shown + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
