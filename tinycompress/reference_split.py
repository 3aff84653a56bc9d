"""The reference for models the interpreter's reference kernels cannot run whole.

Three kinds of op, each run on its own, every other op by the interpreter's reference kernels
(BUILTIN_REF) as a model of those operators over the same tensors (the flatbuffer with its
operator list cut), so each is still the interpreter's own result:

- SVDF with an int8 state. TFLite's SVDF (svdf.cc) implements an int16 state only, and reads any
  state and time weights as int16 without checking their type: on an int8 state (TFLM's keyword
  benchmark model) it reads and writes twice the tensor's bytes, past its end (measured: garbage
  outputs, then a hang). TFLM defines that case (svdf_common.cc, EvalIntegerSvdfReference<int8_t>),
  so such an SVDF runs as tinycompress.ops.svdf.svdf_reference (TFLM's arithmetic, checked
  against the interpreter on int16 states, where both are defined).
- int8 SUM. The reference kernel reads and writes int8 SUM tensors as uint8 (ops/sum.py; an
  interpreter bug, LiteRT issue 4079: -1 + -1 gives -1). It runs on a twin model whose input and
  output zero points are 128 higher, fed the input bytes plus 128: every value the kernel then
  reads as uint8 is exactly x + 128 and every byte it writes y + 128, so its uint8 arithmetic is
  the int8 one (tests/test_op_sum.py checks the twin against the direct model where the bug
  cannot show).
- ELU. BUILTIN_REF registers no ELU kernel; the builtin resolver's (without delegates) has the
  one EluPrepare (a table from expm1f) and an int8 Eval that only looks it up, the reference's
  arithmetic (tests/test_op_elu.py).

State persists between runs, as in one interpreter: the interpreters keep theirs, the SVDF stages
hold theirs (reset, as TFLite's ResetVariableTensor, to the zero point)."""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from .frontends.tflite import read_tflite
from .ir import DTYPES, Graph, Op
from .ops.svdf import multipliers, svdf_reference, svdf_tensors


REF, BUILTIN, TWIN, NUMPY = "ref", "builtin", "twin", "numpy"  # how an op is run
_RESOLVERS = {REF: OpResolverType.BUILTIN_REF,
              BUILTIN: OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
              TWIN: OpResolverType.BUILTIN_REF}
SPLIT_KINDS = ("SVDF", "SUM", "ELU")  # the only kinds runner() can set apart
TWIN_SHIFT = 128


def runner(op: Op, g: Graph) -> str:
    """How the reference runs `op` (see the module docstring)."""
    if op.kind == "SVDF" and len(op.inputs) == 5 and op.inputs[4] \
            and g.tensors[op.inputs[4]].dtype == "int8":
        return NUMPY
    if op.kind == "SUM" and op.inputs and g.tensors[op.inputs[0]].dtype == "int8":
        return TWIN
    if op.kind == "ELU":
        return BUILTIN
    return REF


def numpy_ops(g: Graph) -> list[int]:
    """Positions of the ops the reference kernels cannot run as they are."""
    return [pos for pos, op in enumerate(g.ops) if runner(op, g) != REF]


@dataclass
class _Segment:
    """Consecutive ops an interpreter runs: tensor names in and out, by index; `twin`: int8
    bytes go in and come out shifted by 128 (the twin SUM model)."""

    interp: Interpreter
    inputs: dict[str, int]
    outputs: dict[str, int]
    twin: bool = False

    def invoke(self, values: dict[str, np.ndarray]) -> None:
        for name, i in self.inputs.items():
            self.interp.set_tensor(i, _shift(values[name], TWIN_SHIFT) if self.twin
                                   else values[name])
        self.interp.invoke()
        for name, i in self.outputs.items():
            out = self.interp.get_tensor(i).copy()
            values[name] = _shift(out, -TWIN_SHIFT) if self.twin else out


def _shift(x: np.ndarray, by: int) -> np.ndarray:
    """int8 bytes moved by `by` modulo 256 (x + 128 as the uint8 the kernel reads, and back)."""
    return ((x.astype(np.int16) + by) % 256).astype(np.uint8).view(np.int8).reshape(x.shape)


def _segment(tflite: bytes, g: Graph, index: dict[str, int], ops: list[Op],
             later: set[str], how: str = REF) -> _Segment:
    produced = {t for op in ops for t in op.outputs}
    reads = [t for op in ops for t in op.inputs if t and t not in produced
             and not g.tensors[t].is_const and not g.tensors[t].variable]
    ins = list(dict.fromkeys(reads))
    outs = [t for op in ops for t in op.outputs if t in later]
    m = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    sg = m.subgraphs[0]
    sg.operators = [sg.operators[op.index] for op in ops]
    # Only the codes these ops use: the interpreter resolves every code of a model at load, and
    # BUILTIN_REF has none for ELU.
    used = list(dict.fromkeys(o.opcodeIndex for o in sg.operators))
    m.operatorCodes = [m.operatorCodes[i] for i in used]
    for o in sg.operators:
        o.opcodeIndex = used.index(o.opcodeIndex)
    sg.inputs = np.array([index[t] for t in ins], np.int32)
    sg.outputs = np.array([index[t] for t in outs], np.int32)
    if how == TWIN:
        for t in {ops[0].inputs[0], *ops[0].outputs}:
            q = sg.tensors[index[t]].quantization
            q.zeroPoint = [int(z) + TWIN_SHIFT for z in q.zeroPoint]
    b = flatbuffers.Builder(len(tflite) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    interp = Interpreter(model_content=bytes(b.Output()), num_threads=1,
                         experimental_op_resolver_type=_RESOLVERS[how])
    interp.allocate_tensors()
    return _Segment(interp, {t: index[t] for t in ins}, {t: index[t] for t in outs},
                    twin=how == TWIN)


@dataclass
class _Svdf:
    op: Op
    state: np.ndarray
    args: dict = field(default_factory=dict)


def _svdf_stage(op: Op, g: Graph) -> _Svdf:
    x, wf, wt, b, s, y = svdf_tensors(op, g)
    m1, m2 = multipliers(x.quant.s, wf.quant.s, wt.quant.s, s.quant.s, y.quant.s)
    args = dict(wf=wf.data, wt=wt.data, bias=None if b is None else b.data,
                rank=int(op.options["rank"]), in_zp=x.quant.zp, state_zp=s.quant.zp,
                out_zp=y.quant.zp, m1=m1, m2=m2, state_dtype=s.dtype)
    return _Svdf(op, np.full(s.shape, s.quant.zp, DTYPES[s.dtype]), args)


class SplitReference:
    """run(inputs) as Reference.run, for a model with numpy_ops (see the module docstring)."""

    def __init__(self, tflite: bytes):
        g = read_tflite(tflite)
        self._g = g
        index = {name: i for i, name in enumerate(g.tensors)}  # the reader keeps file order
        self._stages: list[_Segment | _Svdf] = []
        run: list[Op] = []
        run_how = REF
        for pos, op in enumerate(g.ops + [None]):
            how = None if op is None else runner(op, g)
            if how == run_how and how in (REF, BUILTIN):
                run.append(op)
                continue
            if run:
                later = set(g.outputs) | {t for o in g.ops[pos:] for t in o.inputs if t}
                self._stages.append(_segment(tflite, g, index, run, later, run_how))
            run, run_how = [], how
            if how == NUMPY:
                self._stages.append(_svdf_stage(op, g))
            elif how is not None:
                run = [op]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        g = self._g
        values = {name: np.asarray(x, DTYPES[g.tensors[name].dtype]).reshape(g.tensors[name].shape)
                  for name, x in zip(g.inputs, inputs)}
        for stage in self._stages:
            if isinstance(stage, _Segment):
                stage.invoke(values)
            else:
                x = values[stage.op.inputs[0]]
                values[stage.op.outputs[0]] = svdf_reference(
                    x.reshape(len(x), -1), stage.state, **stage.args)
        return [values[name].reshape(-1).copy() for name in g.outputs]
