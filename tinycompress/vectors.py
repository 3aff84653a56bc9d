"""Test vectors for verification: user data quantised to the model's input, stored calibration
samples, and seeded random int8 vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UserError

SEED = 20160101


_INT_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767)}


def random_rows(inp: dict, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random vectors for the model input `inp`: uniform over an integer input's range,
    standard normal for a float one."""
    if inp["dtype"] in _INT_RANGES:
        lo, hi = _INT_RANGES[inp["dtype"]]
        return rng.integers(lo, hi + 1, (count, inp["size"])).astype(inp["dtype"])
    return rng.standard_normal((count, inp["size"])).astype(inp["dtype"])


def quantize_input(x: np.ndarray, inp: dict) -> np.ndarray:
    """Samples (N, ...) -> the model's input (N, size): float samples are quantised to an int8 or
    int16 input; integer data (and any data for a float input) is taken as it is."""
    x = np.asarray(x)
    n = x.shape[0] if x.ndim else 0
    if n == 0 or int(np.prod(x.shape[1:])) != inp["size"]:
        raise UserError(f"data array 'x' has shape {list(x.shape)}, but the model input is "
                        f"{inp['shape']}: give x of shape [N, {', '.join(map(str, inp['shape'][1:]))}]")
    flat = x.reshape(n, -1)
    if x.dtype.kind in "iub" or inp["dtype"] not in _INT_RANGES:
        return flat.astype(inp["dtype"])
    q = np.round(flat.astype(np.float64) / inp["scale"]) + inp["zero_point"]
    return np.clip(q, *_INT_RANGES[inp["dtype"]]).astype(inp["dtype"])


def draw(manifest: dict, outdir: Path, count: int, data: np.ndarray | None = None) -> np.ndarray:
    """`count` input vectors: from `data` if given (all of it if count is 0), else the calibration
    samples stored at compile time followed by seeded random vectors (random_rows)."""
    inp = manifest["input"]
    if data is not None:
        q = quantize_input(data, inp)
        return q if count <= 0 else q[:count]
    rows: list[np.ndarray] = []
    stored = manifest.get("vectors")
    if stored and (Path(outdir) / stored).exists():
        with np.load(Path(outdir) / stored) as z:
            rows.extend(z["x"][: count // 2])
    rng = np.random.default_rng(SEED)
    while len(rows) < count:
        if inp["dtype"] == "int8":
            rows.append(rng.integers(-128, 128, inp["size"], dtype=np.int16).astype(np.int8))
        else:
            rows.append(random_rows(inp, 1, rng)[0])
    return np.stack(rows[:count]) if rows else np.zeros((0, inp["size"]), inp["dtype"])


def draw_all(manifest: dict, outdir: Path, count: int,
             data: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """One array (count, size_k) per model input, in order: from `data` (one array per input,
    all of it if count is 0) if given; else a one-input model's vectors are `draw`'s and a model
    of several inputs takes seeded random vectors for each (random_rows, input after input)."""
    specs = manifest["inputs"]
    if data is not None and len(data) != len(specs):
        raise UserError(f"the data holds {len(data)} input arrays, but the model has "
                        f"{len(specs)} inputs: give one array each (x0 ... x{len(specs) - 1})")
    if len(specs) == 1:
        return [draw(manifest, outdir, count, None if data is None else data[0])]
    if data is not None:
        return [_quantized(x, spec, f"x{k}", count) for k, (x, spec) in enumerate(zip(data, specs))]
    rng = np.random.default_rng(SEED)
    return [random_rows(spec, count, rng) for spec in specs]


def _quantized(x: np.ndarray, spec: dict, name: str, count: int) -> np.ndarray:
    try:
        q = quantize_input(x, spec)
    except UserError:
        raise UserError(f"data array '{name}' has shape {list(np.shape(x))}, but model input "
                        f"{name[1:]} is {spec['shape']}: give {name} of shape "
                        f"[N, {', '.join(map(str, spec['shape'][1:]))}]") from None
    return q if count <= 0 else q[:count]
