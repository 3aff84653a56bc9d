"""The reference: ai-edge-litert's interpreter with TFLite's reference kernels (BUILTIN_REF).

The generated C must match this byte for byte. The interpreter runs the model with the harmless
quantisation quirks normalised (frontends/quirks.py): LiteRT refuses some files TFLM runs, e.g.
TFLM's person-detection model, whose 1-D biases declare quantized_dimension 3. `normalised`
lists what the copy changed (empty: the model is run as given)."""

from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from .errors import UserError
from .frontends.quirks import normalise_tflite


class Reference:
    def __init__(self, tflite: bytes):
        model, self.normalised = normalise_tflite(tflite)
        try:
            self._interp = Interpreter(
                model_content=model,
                experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                num_threads=1,
            )
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            reason = " ".join(str(e).split())[:300]
            raise UserError(f"the reference interpreter (LiteRT) refuses the model: {reason}") \
                from e
        self.input_details = self._interp.get_input_details()
        self.output_details = self._interp.get_output_details()

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """One inference: one array per model input (without batch), returns flat outputs."""
        for det, x in zip(self.input_details, inputs):
            self._interp.set_tensor(det["index"], np.asarray(x, det["dtype"]).reshape(det["shape"]))
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).reshape(-1).copy() for d in self.output_details]

    def run_batch(self, x: np.ndarray) -> np.ndarray:
        """Single-input, single-output models: x is (N, input_size) -> (N, output_size)."""
        return np.stack([self.run([row])[0] for row in x])
