"""Seed models of the reader fuzzer: one small model per supported operator (built with
tests/tflite_builder.py) and the small real models in /work/shared/models where present."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from tflite_builder import T, conv_model, dw_model, model  # noqa: E402

def models_dir() -> Path:
    """/work/shared/models: the first `shared/models` above this file (tests/fuzz/ sits two
    levels deeper in a worktree under /work/wt/ than in /work/main)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "models").is_dir():
            return parent / "shared" / "models"
    return Path("/nonexistent")


MODELS = models_dir()
# Real models small enough to keep the fuzzer fast (bytes); the larger ones only with --all.
SMALL_REAL = 130_000


def _fc(units=4, depth=6, per_channel=True) -> bytes:
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (units, depth)).astype(np.int8)
    scales = list(rng.uniform(0.005, 0.02, units)) if per_channel else 0.01
    bias_scales = [0.05 * s for s in scales] if per_channel else 0.0005
    zeros = [0] * units if per_channel else 0
    return model("FULLY_CONNECTED",
                 [T((1, depth), scale=0.05, zero_point=-3),
                  T((units, depth), scale=scales, zero_point=zeros, data=w),
                  T((units,), "int32", scale=bias_scales, zero_point=zeros,
                    data=rng.integers(-500, 500, units).astype(np.int32))],
                 [T((1, units), scale=0.1, zero_point=2)], {"fused_activation_function": "RELU"},
                 version=4 if per_channel else 1)


def _binary(kind: str) -> bytes:
    return model(kind, [T((1, 3, 3, 4), scale=0.05, zero_point=-3),
                        T((1, 1, 1, 4), scale=0.1, zero_point=7)],
                 [T((1, 3, 3, 4), scale=0.12, zero_point=2)], {"fused_activation_function": "NONE"})


def _pool(kind: str) -> bytes:
    return model(kind, [T((1, 5, 5, 3), scale=0.05, zero_point=-3)],
                 [T((1, 3, 3, 3), scale=0.05, zero_point=-3)],
                 dict(padding="SAME", filter_height=3, filter_width=2, stride_h=2, stride_w=2,
                      fused_activation_function="NONE"))


def _unary(kind: str, out_scale: float, out_zp: int, options=None) -> bytes:
    return model(kind, [T((1, 2, 5), scale=0.08, zero_point=4)],
                 [T((1, 2, 5), scale=out_scale, zero_point=out_zp)], options)


def builder_seeds() -> dict[str, bytes]:
    pads = np.array([[0, 0], [1, 0], [0, 2], [0, 0]], np.int32)
    seeds = {
        "fc": _fc(), "fc_per_tensor": _fc(per_channel=False),
        "conv": conv_model(5, 5, 3, 4, 3, 3, stride=(2, 1), padding="SAME", act="RELU6"),
        "dw": dw_model(5, 6, 3, 2, 3, 3, dilation=(1, 2), padding="VALID"),
        "add": _binary("ADD"), "mul": _binary("MUL"),
        "avg_pool": _pool("AVERAGE_POOL_2D"), "max_pool": _pool("MAX_POOL_2D"),
        "softmax": _unary("SOFTMAX", 1 / 256, -128, {"beta": 1.0}),
        "logistic": _unary("LOGISTIC", 1 / 256, -128), "tanh": _unary("TANH", 1 / 128, 0),
        "reshape": model("RESHAPE", [T((1, 2, 6), scale=0.1), T((2,), "int32",
                                                                data=np.array([1, 12], np.int32))],
                         [T((1, 12), scale=0.1)], {"new_shape": [1, 12]}),
        "pad": model("PAD", [T((1, 2, 3, 2), scale=0.05, zero_point=-5), T((4, 2), "int32",
                                                                          data=pads)],
                     [T((1, 3, 5, 2), scale=0.05, zero_point=-5)]),
        "mean": model("MEAN", [T((1, 4, 4, 2), scale=0.05, zero_point=-3),
                               T((2,), "int32", data=np.array([1, 2], np.int32))],
                      [T((1, 1, 1, 2), scale=0.04, zero_point=1)], {"keep_dims": True}),
        "concat": model("CONCATENATION", [T((1, 2, 2, 2), scale=0.05, zero_point=-3),
                                          T((1, 2, 2, 3), scale=0.05, zero_point=-3)],
                        [T((1, 2, 2, 5), scale=0.05, zero_point=-3)],
                        {"axis": 3, "fused_activation_function": "NONE"}),
        "quantize": model("QUANTIZE", [T((1, 6), "float32")], [T((1, 6), scale=0.02,
                                                                 zero_point=-1)]),
        "dequantize": model("DEQUANTIZE", [T((1, 6), scale=0.02, zero_point=-1)],
                            [T((1, 6), "float32")]),
    }
    return seeds


def real_seeds(max_bytes: int | None = SMALL_REAL) -> dict[str, bytes]:
    """The .tflite files of /work/shared/models/{tflm-examples,mlperf-tiny} up to max_bytes
    (all of them with None); none when the directory is absent."""
    found = {}
    for folder in ("tflm-examples", "mlperf-tiny"):
        for path in sorted((MODELS / folder).glob("*.tflite")):
            if max_bytes is None or path.stat().st_size <= max_bytes:
                found[path.stem] = path.read_bytes()
    return found


def all_seeds(max_bytes: int | None = SMALL_REAL) -> dict[str, bytes]:
    return {**builder_seeds(), **real_seeds(max_bytes)}
