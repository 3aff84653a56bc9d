"""Frontends: turn what the user gives (Keras 3 file, SavedModel, INT8 .tflite) into INT8 TFLite
bytes, the model the generated C is checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .tflite import read_tflite

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def model_kind(path: Path) -> str:
    if not path.exists():
        raise UserError(f"model file {path} does not exist")
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            return "savedmodel"
        raise UserError(f"{path} is a directory without saved_model.pb: give a SavedModel "
                        "directory, a .keras/.h5 file or an INT8 .tflite")
    if path.suffix == ".tflite":
        return "tflite"
    if path.suffix in KERAS_SUFFIXES:
        return "keras"
    raise UserError(f"{path}: unknown model type '{path.suffix}': give .tflite, .keras, .h5 "
                    "or a SavedModel directory")


def _is_float_tflite(data: bytes) -> bool:
    graph = read_tflite(data)
    weights = [t for t in graph.tensors.values() if t.is_const and t.dtype == "float32"]
    return bool(weights) and not any(t.dtype == "int8" for t in graph.tensors.values())


def load_tflite_bytes(path: Path, calibration: np.ndarray | None,
                      per_channel: bool = True) -> bytes:
    """The INT8 TFLite model for `path`, converting Keras/SavedModel with calibration data."""
    kind = model_kind(path)
    if kind == "tflite" and not per_channel:
        raise UserError(f"{path} is already quantised: --per-tensor-weights applies when "
                        "quantising a float model (Keras or SavedModel)")
    if kind == "tflite":
        data = path.read_bytes()
        read_tflite(data, str(path))  # refuses non-flatbuffers with a clear message
        if _is_float_tflite(data):
            raise UserError(
                f"{path} is a float TFLite model: give the Keras/SavedModel source with "
                "--calibration DATA.npz, or an INT8 .tflite"
            )
        return data
    if calibration is None:
        raise UserError(
            f"{path} is a float model: give calibration data with --calibration DATA.npz "
            "(array 'x', samples in the model's float input domain) to quantize it to INT8"
        )
    from .child import convert_in_child

    return convert_in_child(path, calibration, per_channel=per_channel)
