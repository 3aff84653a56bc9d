"""The reference: ai-edge-litert's interpreter with TFLite's reference kernels (BUILTIN_REF).

The generated C must match this byte for byte. A model with an op the interpreter cannot run
correctly (an SVDF with an int8 state, see reference_split.py) runs in stages: that op by TFLM's
arithmetic in numpy, every other op still by the interpreter. The state of stateful ops persists
between `run` calls, as in one interpreter; a new Reference starts from the reset state."""

from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


class Reference:
    def __init__(self, tflite: bytes):
        self._interp = Interpreter(
            model_content=tflite,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            num_threads=1,
        )
        self._interp.allocate_tensors()
        self.input_details = self._interp.get_input_details()
        self.output_details = self._interp.get_output_details()
        self._split = None
        if _has_svdf(tflite):
            from .frontends.tflite import read_tflite
            from .reference_split import SplitReference, numpy_ops

            if numpy_ops(read_tflite(tflite)):
                self._split = SplitReference(tflite)

    @property
    def split(self) -> bool:
        """Whether some op runs outside the interpreter (see reference_split.py)."""
        return self._split is not None

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """One inference: one array per model input (without batch), returns flat outputs."""
        if self._split is not None:
            xs = [np.asarray(x, det["dtype"]) for det, x in zip(self.input_details, inputs)]
            return self._split.run(xs)
        for det, x in zip(self.input_details, inputs):
            self._interp.set_tensor(det["index"], np.asarray(x, det["dtype"]).reshape(det["shape"]))
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).reshape(-1).copy() for d in self.output_details]

    def run_batch(self, x: np.ndarray) -> np.ndarray:
        """Single-input, single-output models: x is (N, input_size) -> (N, output_size)."""
        return np.stack([self.run([row])[0] for row in x])


def _has_svdf(tflite: bytes) -> bool:
    """Whether the model uses SVDF (read cheaply, without unpacking the weights)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(tflite, 0)
    codes = (model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))
    svdf = schema.BuiltinOperator.SVDF
    return any(svdf in (c.BuiltinCode(), c.DeprecatedBuiltinCode()) for c in codes)
