"""The reference for models the interpreter cannot run whole: an SVDF with an int8 state.

TFLite's SVDF (svdf.cc) implements an int16 state only, and reads any state and time weights as
int16 without checking their type: on an int8 state (TFLM's keyword benchmark model) it reads
and writes twice the tensor's bytes, past its end (measured: garbage outputs, then a hang).
TFLM defines that case (svdf_common.cc, EvalIntegerSvdfReference<int8_t>). So such a model runs
in stages: each such SVDF by tinycompress.ops.svdf.svdf_reference (TFLM's arithmetic, checked
against the interpreter on int16 states, where both are defined), every run of other ops by the
interpreter itself, as a model of those operators over the same tensors (the flatbuffer with its
operator list cut), so every other op is still the interpreter's own result. State persists
between runs, as in one interpreter: the interpreters keep theirs, the SVDF stages hold theirs
(reset, as TFLite's ResetVariableTensor, to the zero point)."""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from .frontends.tflite import read_tflite
from .ir import DTYPES, Graph, Op
from .ops.svdf import multipliers, svdf_reference, svdf_tensors


def numpy_ops(g: Graph) -> list[int]:
    """Positions of the ops the interpreter cannot run (SVDF with an int8 state)."""
    return [pos for pos, op in enumerate(g.ops) if op.kind == "SVDF" and len(op.inputs) == 5
            and op.inputs[4] and g.tensors[op.inputs[4]].dtype == "int8"]


@dataclass
class _Segment:
    """Consecutive ops the interpreter runs: tensor names in and out, by index."""

    interp: Interpreter
    inputs: dict[str, int]
    outputs: dict[str, int]


@dataclass
class _Svdf:
    op: Op
    state: np.ndarray
    args: dict = field(default_factory=dict)


def _segment(tflite: bytes, g: Graph, index: dict[str, int], ops: list[Op],
             later: set[str]) -> _Segment:
    produced = {t for op in ops for t in op.outputs}
    reads = [t for op in ops for t in op.inputs if t and t not in produced
             and not g.tensors[t].is_const and not g.tensors[t].variable]
    ins = list(dict.fromkeys(reads))
    outs = [t for op in ops for t in op.outputs if t in later]
    m = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    sg = m.subgraphs[0]
    sg.operators = [sg.operators[op.index] for op in ops]
    sg.inputs = np.array([index[t] for t in ins], np.int32)
    sg.outputs = np.array([index[t] for t in outs], np.int32)
    b = flatbuffers.Builder(len(tflite) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    interp = Interpreter(model_content=bytes(b.Output()), num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    return _Segment(interp, {t: index[t] for t in ins}, {t: index[t] for t in outs})


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
        split = set(numpy_ops(g))
        self._stages: list[_Segment | _Svdf] = []
        run: list[Op] = []
        for pos, op in enumerate(g.ops + [None]):
            if op is not None and pos not in split:
                run.append(op)
                continue
            if run:
                later = set(g.outputs) | {t for o in g.ops[pos:] for t in o.inputs if t}
                self._stages.append(_segment(tflite, g, index, run, later))
                run = []
            if op is not None:
                self._stages.append(_svdf_stage(op, g))

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        g = self._g
        values = {name: np.asarray(x, DTYPES[g.tensors[name].dtype]).reshape(g.tensors[name].shape)
                  for name, x in zip(g.inputs, inputs)}
        for stage in self._stages:
            if isinstance(stage, _Segment):
                for name, i in stage.inputs.items():
                    stage.interp.set_tensor(i, values[name])
                stage.interp.invoke()
                for name, i in stage.outputs.items():
                    values[name] = stage.interp.get_tensor(i).copy()
            else:
                x = values[stage.op.inputs[0]]
                values[stage.op.outputs[0]] = svdf_reference(
                    x.reshape(len(x), -1), stage.state, **stage.args)
        return [values[name].reshape(-1).copy() for name in g.outputs]
