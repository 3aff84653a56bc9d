"""The reference: ai-edge-litert's interpreter with TFLite's reference kernels (BUILTIN_REF).

The generated C must match this byte for byte. The interpreter runs the model with the harmless
quirks normalised (frontends/quirks.py): LiteRT refuses some files TFLM runs, e.g. TFLM's
person-detection model, whose 1-D biases declare quantized_dimension 3. `normalised` lists what
the copy changed (empty: the model is run as given). A model with an op the interpreter cannot run
correctly runs in stages (reference_split.py): an SVDF with an int8 state by TFLM's arithmetic in
numpy, an int8 SUM (which the reference kernel misreads as uint8) on a twin model, an ELU (which
BUILTIN_REF lacks) by the builtin kernel, every other op still by the interpreter's reference
kernels. The state of stateful ops persists between `run` calls, as in one interpreter; a new
Reference starts from the reset state."""

from __future__ import annotations

import re

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from .errors import UserError
from .frontends.quirks import normalise_tflite


# "Didn't find op for builtin opcode 'TILE' version '3'": the converter writes operator versions
# newer than this interpreter registers (TILE 3, DEPTH_TO_SPACE 2 from TensorFlow 2.21).
_MISSING_VERSION = re.compile(r"builtin opcode '(\w+)' version '(\d+)'")
MAX_VERSION_RETRIES = 16


def with_version(tflite: bytes, kind: str, version: int) -> bytes:
    """`tflite` with every operator code of builtin `kind` set to `version`."""
    m = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    code = getattr(schema.BuiltinOperator, kind)
    for oc in m.operatorCodes or []:
        if max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode)) == code:
            oc.version = version
    b = flatbuffers.Builder(len(tflite) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


class Reference:
    _split = None  # set when some op runs outside the interpreter (reference_split.py)

    def __init__(self, tflite: bytes):
        model, self.normalised = normalise_tflite(tflite)
        self._split = None
        if _may_split(tflite):
            from .frontends.tflite import read_tflite
            from .reference_split import SplitReference, numpy_ops

            if numpy_ops(read_tflite(tflite)):
                self._split = SplitReference(tflite)
                return
        self._interp = self._load(model)
        self.input_details = self._interp.get_input_details()
        self.output_details = self._interp.get_output_details()

    def _load(self, model: bytes) -> Interpreter:
        """The interpreter for `model`. An operator version newer than the interpreter registers
        is run as the newest it has (the reference kernel of an op is one function for all its
        versions: a version only says which types and options a model may use, and the kernel
        refuses at Prepare what it does not handle); `normalised` records it."""
        lowered: dict[str, tuple[int, int]] = {}  # kind -> (model's version, version run)
        for _ in range(MAX_VERSION_RETRIES):
            try:
                interp = Interpreter(model_content=model,
                                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                                     num_threads=1)
                interp.allocate_tensors()
            except (ValueError, RuntimeError) as e:
                found = _MISSING_VERSION.search(str(e))
                if found is None or int(found.group(2)) <= 1:
                    reason = " ".join(str(e).split())[:300]
                    raise UserError("the reference interpreter (LiteRT) refuses the model: "
                                    f"{reason}") from e
                kind, version = found.group(1), int(found.group(2))
                lowered[kind] = (lowered.get(kind, (version, 0))[0], version - 1)
                model = with_version(model, kind, version - 1)
                continue
            self.normalised += [f"{k} version {a} run as version {b}, the newest the "
                                "interpreter has" for k, (a, b) in sorted(lowered.items())]
            return interp
        raise UserError("the reference interpreter (LiteRT) refuses the model's operator versions")

    @property
    def split(self) -> bool:
        """Whether some op runs outside the interpreter (see reference_split.py)."""
        return self._split is not None

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """One inference: one array per model input (without batch), returns flat outputs."""
        if self._split is not None:
            return self._split.run(inputs)  # converts to the inputs' types itself
        for det, x in zip(self.input_details, inputs):
            self._interp.set_tensor(det["index"], np.asarray(x, det["dtype"]).reshape(det["shape"]))
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).reshape(-1).copy() for d in self.output_details]

    def run_all(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Any model: one array (N, size) per input -> one array (N, size) per output."""
        outs = [self.run([x[v] for x in inputs]) for v in range(len(inputs[0]))]
        n_outputs = len(outs[0]) if outs else 0  # a split reference has no output_details
        return [np.stack([o[k] for o in outs]) for k in range(n_outputs)]

    def run_batch(self, x: np.ndarray) -> np.ndarray:
        """Single-input, single-output models: x is (N, input_size) -> (N, output_size)."""
        return np.stack([self.run([row])[0] for row in x])


def _may_split(tflite: bytes) -> bool:
    """Whether the model uses an op kind reference_split may run apart (read cheaply, without
    unpacking the weights)."""
    from .reference_split import SPLIT_KINDS

    model = schema.Model.GetRootAs(tflite, 0)
    codes = (model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))
    kinds = {getattr(schema.BuiltinOperator, k) for k in SPLIT_KINDS}
    return any({c.BuiltinCode(), c.DeprecatedBuiltinCode()} & kinds for c in codes)
