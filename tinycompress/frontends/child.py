"""Keras/SavedModel conversion in a child process.

The TensorFlow converter is native code that can crash the process (SIGSEGV on some recurrent
layers) and prints logs of its own. `convert_in_child` runs `convert_path` in a fresh Python
process, so a crash becomes a UserError naming the layers it may not have converted, and what
TensorFlow prints reaches the user only with --debug (TINYCOMPRESS_DEBUG=1).

The protocol, all through files in a temporary directory: the parent writes the calibration
samples (cal.npy); the child writes layers.json (name and class of every layer) as soon as the
model is loaded, then either model.tflite or error.txt (a UserError's one line)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import UserError

# Layer classes the converter handles in every model tried; a crash names the others.
ORDINARY_LAYERS = {
    "InputLayer", "Dense", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
    "Conv2DTranspose", "BatchNormalization", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU",
    "Softmax", "Dropout", "SpatialDropout2D", "Flatten", "Reshape", "Permute", "Add", "Subtract",
    "Multiply", "Maximum", "Minimum", "Average", "Concatenate", "MaxPooling1D", "MaxPooling2D",
    "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "ZeroPadding1D", "ZeroPadding2D", "UpSampling2D",
    "Cropping2D", "Rescaling", "Normalization", "Embedding", "Functional", "Sequential",
}


def debug_enabled() -> bool:
    return os.environ.get("TINYCOMPRESS_DEBUG") == "1" or bool(
        os.environ.get("TINYCOMPRESS_TF_LOGS"))


def convert_in_child(path: Path, calibration: np.ndarray, per_channel: bool = True) -> bytes:
    """INT8 TFLite bytes of a .keras/.h5 file or SavedModel directory, converted in a child."""
    with tempfile.TemporaryDirectory(prefix="tc-convert-") as tmp:
        work = Path(tmp)
        np.save(work / "cal.npy", np.asarray(calibration), allow_pickle=False)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0" if debug_enabled() else "3")
        proc = subprocess.run(child_command(Path(path).resolve(), work, per_channel), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=env, errors="replace")
        if debug_enabled() and (proc.stdout or proc.stderr):
            sys.stderr.write(proc.stdout + proc.stderr)
        if proc.returncode == 0 and (work / "model.tflite").is_file():
            return (work / "model.tflite").read_bytes()
        if (work / "error.txt").is_file():
            raise UserError((work / "error.txt").read_text().strip())
        raise UserError(_crash_message(path, proc.returncode, work, proc.stderr))


def child_command(path: Path, work: Path, per_channel: bool) -> list[str]:
    return [sys.executable, "-m", "tinycompress.frontends.child", str(path), str(work),
            "1" if per_channel else "0"]


def _crash_message(path: Path, code: int, work: Path, stderr: str) -> str:
    how = (f"was killed by {signal.Signals(-code).name}" if code < 0 and -code in
           signal.valid_signals() else f"exited with status {code}")
    layers = []
    if (work / "layers.json").is_file():
        layers = json.loads((work / "layers.json").read_text())
    unusual = [f"{name} ({cls})" for name, cls in layers if cls not in ORDINARY_LAYERS]
    where = (f"; layers it may not convert: {', '.join(unusual[:8])}" if unusual else
             "" if layers else "; it did not get as far as loading the model")
    last = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:] if stderr else []
    hint = f" (last message: {last[0][:160]})" if last and not unusual else ""
    return (f"the TensorFlow converter {how} while converting {path}{where}{hint}: replace "
            "those layers, or convert the model to an INT8 .tflite yourself and compile that "
            "(--debug shows the converter's output)")


def _child(model: str, work: str, per_channel: str) -> int:
    from .keras import convert_path, layer_list

    out = Path(work)
    try:
        x_cal = np.load(out / "cal.npy", allow_pickle=False)
        data = convert_path(Path(model), x_cal, per_channel=per_channel == "1",
                            on_loaded=lambda m: (out / "layers.json").write_text(
                                json.dumps(layer_list(m))))
    except UserError as e:
        (out / "error.txt").write_text(str(e).splitlines()[0] if str(e) else "conversion failed")
        return 2
    (out / "model.tflite").write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:4]))
