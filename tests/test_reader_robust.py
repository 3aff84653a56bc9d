"""A .tflite reader that cannot crash: the flatbuffer verifier (every refusal), the reader's own
refusals, the compile boundaries (op, pass, CLI), the quantisation quirks TFLM accepts (and the
normalised copy the reference runs), and seeded random byte mutations through the CLI."""

from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as s

from optest import assert_bit_exact
from tflite_builder import T, conv_model, model
from tinycompress import passes
from tinycompress.cli import main
from tinycompress.compiler import compile_tflite
from tinycompress.errors import OpCompileError, UserError, one_line
from tinycompress.frontends import flatbuffer_check as fc
from tinycompress.frontends import tflite as reader
from tinycompress.frontends.quirks import QuantError, normal_quant, normalise_tflite, quirk_notes
from tinycompress.frontends.tflite import read_tflite
from tinycompress.ir import IRError
from tinycompress.reference import Reference


def models_dir() -> Path:
    """/work/shared/models (the first shared/models above this file: /work/main/tests is two
    levels up from /work, a worktree's tests three)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "models").is_dir():
            return parent / "shared" / "models"
    return Path("/nonexistent")


TFLM = models_dir() / "tflm-examples"


def fc_model(units=4, depth=6, bias_axis=0, per_channel=False, bias=None, in_zp=-3) -> bytes:
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (units, depth)).astype(np.int8)
    b = rng.integers(-500, 500, units).astype(np.int32) if bias is None else bias
    scales = [0.01 * (1 + k / 8) for k in range(units)] if per_channel else 0.01
    bias_scales = [0.05 * x for x in scales] if per_channel else 0.0005
    zeros = [0] * units if per_channel else 0
    return model("FULLY_CONNECTED",
                 [T((1, depth), scale=0.05, zero_point=in_zp),
                  T((units, depth), scale=scales, zero_point=zeros, data=w),
                  T((units,), "int32", scale=bias_scales, zero_point=zeros, axis=bias_axis,
                    data=b)],
                 [T((1, units), scale=0.15, zero_point=2)], {"fused_activation_function": "NONE"},
                 version=4 if per_channel else 1)


def mutate(tflite: bytes, change) -> bytes:
    """The model after `change(ModelT)`, packed again."""
    m = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    change(m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def refusal(data: bytes, source: str = "m.tflite") -> str:
    """The one-line UserError read_tflite refuses `data` with."""
    with pytest.raises(UserError) as e:
        read_tflite(data, source)
    text = str(e.value)
    assert text.startswith((f"{source}: ", f"{source} ")) and "\n" not in text, text
    return text


def corrupted(data: bytes, *expected: str) -> None:
    text = refusal(data)
    assert text.endswith("the file is corrupted; re-export it"), text
    for part in expected:
        assert part in text, text


def sub(m):
    return m.subgraphs[0]


# --- byte-level positions, found with the verifier's own reader ---------------------------------

def tables(data: bytes):
    """(root, subgraph 0, its tensors, its operators) as flatbuffer_check tables."""
    r = fc._Reader(bytes(data))
    root = r.table(r.deref(0, "root"), "model")
    sg = root.tables(2, "subgraphs", "subgraph")[0]
    return root, sg, sg.tables(0, "tensors", "tensor"), sg.tables(3, "operators", "operator")


def patch(data: bytes, pos: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, pos, value)
    return bytes(out)


def vtable_of(t) -> int:
    return t.pos - struct.unpack_from("<i", t.r.data, t.pos)[0]


# --- structure -------------------------------------------------------------------------------

def test_every_shipped_and_built_model_verifies():
    for data in [fc_model(), fc_model(per_channel=True), conv_model(5, 5, 3, 4, 3, 3)]:
        fc.verify_tflite(data)
    for path in sorted(models_dir().glob("*/*.tflite")):
        fc.verify_tflite(path.read_bytes(), path.name)


def test_too_short_too_long_and_truncated(monkeypatch):
    with pytest.raises(UserError, match="7 bytes are too few for a flatbuffer"):
        fc.verify_tflite(b"\0" * 7, "x.tflite")
    monkeypatch.setattr(fc, "MAX_FILE_BYTES", 100)
    corrupted(fc_model(), "bytes are more than a flatbuffer addresses (100)")
    monkeypatch.undo()
    data = fc_model()
    text = refusal(data[: len(data) // 2])
    assert "outside the file" in text or "past the end of the file" in text, text


def test_root_offset_past_the_end_and_misaligned():
    data = fc_model()
    corrupted(patch(data, 0, "I", len(data) + 100), "the root offset points to byte",
              "past the end of the file")
    corrupted(patch(data, 0, "I", 9), "the model: table at byte 9 is not aligned to 4 bytes")


def test_bad_vtable_and_table_size():
    data = fc_model()
    root = tables(data)[0]
    corrupted(patch(data, vtable_of(root), "H", 3), "the model: vtable at byte",
              "has an invalid size 3")
    corrupted(patch(data, vtable_of(root) + 2, "H", 0xFFFC), "the model: table at byte",
              "of 65532 bytes runs past the end of the file")


def test_field_outside_its_table():
    data = fc_model()
    tensor = tables(data)[2][0]
    vt = vtable_of(tensor)
    corrupted(patch(data, vt + 4 + 2 * 3, "H", 0xFFF0), "tensor 0: field name at offset 65520 "
              "lies outside its table")


def test_vector_longer_than_the_file():
    data = fc_model()
    tensor = tables(data)[2][1]
    shape_at = tensor.r.deref(tensor.field(0, 4, "shape"), "shape")
    corrupted(patch(data, shape_at, "I", 0x7FFFFFFF), "tensor 1: shape: 2147483647 elements",
              "run past the end of the file")


def test_offset_past_the_end_and_string_without_nul():
    data = fc_model()
    tensor = tables(data)[2][0]
    name_field = tensor.field(3, 4, "name")
    corrupted(patch(data, name_field, "I", 0x10000000), "tensor 0: name points to byte",
              "past the end of the file")
    start, count = tensor.vector(3, 1, "name")
    corrupted(patch(data, start + count, "B", ord("x")), "tensor 0: string name is not "
              "NUL-terminated")


def test_offsets_reused_over_and_over_are_refused():
    """200 buffers that all point at one 4 kB data vector would make the object API copy it
    200 times: the vector bytes reached are bounded by twice the file size."""
    corrupted(_many_buffer_entries(fc_model(units=64, depth=64), 200),
              "the vectors reached add up to more than twice the file size")


def _many_buffer_entries(data: bytes, n: int) -> bytes:
    """The model with n buffers that all share one 4 kB data vector (built with the Builder)."""
    m = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    b = flatbuffers.Builder(1024)
    weights = b.CreateNumpyVector(np.asarray(m.buffers[1].data, np.uint8))
    s.BufferStart(b)
    s.BufferAddData(b, weights)
    shared = s.BufferEnd(b)
    others = [x.Pack(b) for x in (m.operatorCodes or [])]
    s.ModelStartOperatorCodesVector(b, len(others))
    for o in reversed(others):
        b.PrependUOffsetTRelative(o)
    codes = b.EndVector()
    graphs = [g.Pack(b) for g in m.subgraphs]
    s.ModelStartSubgraphsVector(b, len(graphs))
    for g in reversed(graphs):
        b.PrependUOffsetTRelative(g)
    subgraphs = b.EndVector()
    s.ModelStartBuffersVector(b, n)
    for _ in range(n):
        b.PrependUOffsetTRelative(shared)
    buffers = b.EndVector()
    s.ModelStart(b)
    s.ModelAddVersion(b, 3)
    s.ModelAddOperatorCodes(b, codes)
    s.ModelAddSubgraphs(b, subgraphs)
    s.ModelAddBuffers(b, buffers)
    b.Finish(s.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_table_count_is_bounded(monkeypatch):
    monkeypatch.setattr(fc, "MAX_TABLES", 3)
    corrupted(fc_model(), "more than 3 tables")


# --- content ------------------------------------------------------------------------------------

def _tensor(index, **attrs):
    def change(m):
        for k, v in attrs.items():
            setattr(sub(m).tensors[index], k, v)
    return change


@pytest.mark.parametrize("attrs,expected", [
    (dict(type=99), "tensor 0 has type 99, which is not a TensorType"),
    (dict(shape=np.ones(17, np.int32)), "tensor 0 has a shape of 17 dimensions (at most 16)"),
    (dict(shape=np.array([1, -2], np.int32)), "tensor 0 has shape [1, -2], with a dimension "
                                               "below -1"),
    (dict(shapeSignature=np.array([-3, 6], np.int32)), "tensor 0 has shape_signature [-3, 6]"),
    (dict(buffer=40), "tensor 0 refers to buffer 40, but the file has 3 buffers"),
])
def test_tensor_refusals(attrs, expected):
    corrupted(mutate(fc_model(), _tensor(0, **attrs)), expected)


def test_huge_tensors_are_refused(monkeypatch):
    text = refusal(mutate(fc_model(), _tensor(0, shape=np.array([4096, 4096, 2], np.int32))))
    assert "tensor 0 has shape [4096, 4096, 2]: 33554432 elements, more than tinycompress " \
           "handles (16777216): a microcontroller model holds far fewer" in text
    monkeypatch.setattr(fc, "MAX_TOTAL_ELEMENTS", 20)
    assert "the tensors hold 38 elements, more than tinycompress handles (20)" in refusal(
        fc_model())


def test_empty_tensors_are_refused():
    assert "tensor 'in0' has shape [1, 0], with no element" in refusal(
        mutate(fc_model(), _tensor(0, shape=np.array([1, 0], np.int32))))
    corrupted(mutate(fc_model(), _tensor(1, shape=np.array([4, 0], np.int32))),
              "tensor 1 has shape [4, 0] of INT8 (0 bytes), but its buffer 1 holds 24 bytes")


def test_constant_sizes():
    corrupted(mutate(fc_model(), _tensor(1, shape=np.array([4, 5], np.int32))),
              "tensor 1 has shape [4, 5] of INT8 (20 bytes), but its buffer 1 holds 24 bytes")
    corrupted(mutate(fc_model(), _tensor(1, shape=np.array([-1, 6], np.int32))),
              "tensor 1 is a constant (buffer 1) with dynamic shape [-1, 6]")


def _op(**attrs):
    def change(m):
        for k, v in attrs.items():
            setattr(sub(m).operators[0], k, v)
    return change


@pytest.mark.parametrize("attrs,expected", [
    (dict(inputs=np.array([0, 1, 99], np.int32)),
     "operator 0 (FULLY_CONNECTED) input 2 is tensor 99, but the subgraph has 4 tensors (-1 "
     "marks an absent input)"),
    (dict(outputs=np.array([-1], np.int32)),
     "operator 0 (FULLY_CONNECTED) output 0 is tensor -1, but the subgraph has 4 tensors"),
    (dict(intermediates=np.array([7], np.int32)),
     "operator 0 (FULLY_CONNECTED) intermediate 0 is tensor 7"),
    (dict(opcodeIndex=5), "operator 0 uses operator code 5, but the file has 1"),
    (dict(builtinOptionsType=s.BuiltinOptions.Conv2DOptions),
     "operator 0 (FULLY_CONNECTED) carries Conv2DOptions, but FULLY_CONNECTED takes "
     "FullyConnectedOptions"),
    (dict(builtinOptionsType=200), "builtin options of type 200, which is not a BuiltinOptions"),
])
def test_operator_refusals(attrs, expected):
    corrupted(mutate(fc_model(), _op(**attrs)), expected)


def test_absent_optional_input_is_accepted():
    g = read_tflite(mutate(fc_model(), _op(inputs=np.array([0, 1, -1], np.int32))))
    assert g.ops[0].inputs[2] == ""


def test_subgraph_io_buffers_metadata_and_signatures():
    def io(inputs=None, outputs=None):
        def change(m):
            if inputs is not None:
                sub(m).inputs = np.array(inputs, np.int32)
            if outputs is not None:
                sub(m).outputs = np.array(outputs, np.int32)
        return change

    corrupted(mutate(fc_model(), io(inputs=[9])), "subgraph 0 input 0 is tensor 9")
    corrupted(mutate(fc_model(), io(outputs=[-1])), "subgraph 0 output 0 is tensor -1")

    def offset(m):
        m.buffers[1].offset, m.buffers[1].size = 1 << 20, 24
    corrupted(mutate(fc_model(), offset), "buffer 1 keeps 24 bytes at byte 1048576, past the end")

    def metadata(m):
        entry = s.MetadataT()
        entry.name, entry.buffer = "min_runtime_version", 99
        m.metadata = [entry]
    corrupted(mutate(fc_model(), metadata), "metadata 0 refers to buffer 99, but the file has 3")

    def signature(subgraph, tensor):
        def change(m):
            tm = s.TensorMapT()
            tm.name, tm.tensorIndex = "x", tensor
            sig = s.SignatureDefT()
            sig.inputs, sig.signatureKey, sig.subgraphIndex = [tm], "serve", subgraph
            m.signatureDefs = [sig]
        return change
    corrupted(mutate(fc_model(), signature(2, 0)), "signature 0 refers to subgraph 2, but the "
              "file has 1")
    corrupted(mutate(fc_model(), signature(0, 50)), "signature 0 tensor 0 is tensor 50")
    read_tflite(mutate(fc_model(), signature(0, 0)))  # a valid signature is fine


# --- the reader's own refusals --------------------------------------------------------------------

def test_object_api_errors_become_one_line(monkeypatch):
    """Were the verifier to let a bad file through, the object API's exception is still one
    UserError line."""
    monkeypatch.setattr(reader, "verify_tflite", lambda data, source: None)
    data = fc_model()
    tensor = tables(data)[2][1]
    shape_at = tensor.r.deref(tensor.field(0, 4, "shape"), "shape")
    text = refusal(patch(data, shape_at, "I", 0x7FFFFFFF))
    assert "cannot read the flatbuffer (ValueError:" in text
    assert text.endswith("the file is corrupted; re-export it")


def test_undecodable_names_are_replaced():
    g = read_tflite(mutate(fc_model(), _tensor(0, name=b"in\xff\xfe")))
    assert "in\ufffd\ufffd" in g.tensors


def test_repeated_names_are_made_unique():
    def names(m):
        for t, name in zip(sub(m).tensors, ["a", "a#1", "a", "tensor_3"]):
            t.name = name
        sub(m).tensors[3].name = ""
    g = read_tflite(mutate(fc_model(), names))
    assert list(g.tensors) == ["a", "a#1", "a#2", "tensor_3"]

    def clash(m):
        for t, name in zip(sub(m).tensors, ["a", "a", "a#1", "b"]):
            t.name = name
    assert list(read_tflite(mutate(fc_model(), clash)).tensors) == ["a", "a#1", "a#1#2", "b"]


def test_unknown_enum_options_are_refused():
    data = conv_model(5, 5, 3, 4, 3, 3)

    def options(**kw):
        def change(m):
            for k, v in kw.items():
                setattr(sub(m).operators[0].builtinOptions, k, v)
        return change
    assert "CONV_2D (op 0, 'out0') has padding 7, which is not a value TFLite defines" in \
        refusal(mutate(data, options(padding=7)))
    assert "has fused_activation_function 42" in refusal(
        mutate(data, options(fusedActivationFunction=42)))


def test_sparse_and_external_tensors_are_refused():
    def sparse(m):
        p = s.SparsityParametersT()
        p.traversalOrder = [0, 1]
        sub(m).tensors[1].sparsity = p
    assert "tensor 'in1' is stored sparse" in refusal(mutate(fc_model(), sparse))
    assert "tensor 'in1' keeps its data in an external buffer" in refusal(
        mutate(fc_model(), _tensor(1, externalBuffer=1)))


def _quant(index, **attrs):
    def change(m):
        for k, v in attrs.items():
            setattr(sub(m).tensors[index].quantization, k, v)
    return change


@pytest.mark.parametrize("index,attrs,expected", [
    (1, dict(scale=[0.01] * 4, zeroPoint=[0] * 4, quantizedDimension=5),
     "tensor 'in1' has 4 scales along axis 5, which shape [4, 6] does not have"),
    (0, dict(zeroPoint=None), "tensor 'in0' has 1 scale(s) but no zero point"),
    (1, dict(scale=[0.01] * 4, zeroPoint=[0, 0], quantizedDimension=0),
     "tensor 'in1' has 4 scales but 2 zero points"),
    (1, dict(scale=[0.01] * 3, zeroPoint=[0] * 3, quantizedDimension=0),
     "tensor 'in1': 3 scales along axis 0 do not match shape (4, 6)"),
])
def test_bad_quantisation_is_refused(index, attrs, expected):
    assert expected in refusal(mutate(fc_model(), _quant(index, **attrs)))


@pytest.mark.parametrize("scale", [0.0, -0.5, float("nan"), float("inf")])
def test_scales_must_be_positive_and_finite(scale):
    assert f"tensor 'in0' has scale {scale}: quantisation scales are positive and finite" in \
        refusal(mutate(fc_model(), _quant(0, scale=[scale])))


@pytest.mark.parametrize("index,zp,text", [(0, 128, "[-128, 127]"), (0, -129, "[-128, 127]")])
def test_zero_points_must_fit_the_type(index, zp, text):
    assert f"tensor 'in0' has zero point {zp}, outside the range of its type {text}" in refusal(
        mutate(fc_model(), _quant(index, zeroPoint=[zp])))
    big_bias_zp = mutate(fc_model(), _quant(2, zeroPoint=[70000]))  # int32: any zero point
    read_tflite(big_bias_zp)


def test_graph_inputs_and_outputs():
    def io(inputs, outputs):
        def change(m):
            sub(m).inputs = np.array(inputs, np.int32)
            sub(m).outputs = np.array(outputs, np.int32)
        return change

    def constant_input(m):
        buf = s.BufferT()
        buf.data = np.zeros(6, np.uint8)
        m.buffers.append(buf)
        sub(m).tensors[0].buffer = len(m.buffers) - 1
        io([], [3])(m)
    with pytest.raises(UserError, match="the model has no graph input \\(it computes "
                                        "constants\\)"):
        compile_tflite(mutate(fc_model(), constant_input), name="m")
    assert "m.tflite has no graph output" in refusal(mutate(fc_model(), io([0], [])))
    assert "graph input 'in0' is listed twice" in refusal(mutate(fc_model(), io([0, 0], [3])))
    assert "graph output 'in0' is not computed by any operator" in refusal(
        mutate(fc_model(), io([0], [0])))


def _add_op(kind: str, inputs: list[int], outputs: list[int]):
    def change(m):
        code = s.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = getattr(s.BuiltinOperator, kind)
        code.version = 1
        m.operatorCodes.append(code)
        op = s.OperatorT()
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.inputs, op.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
        sub(m).operators.append(op)
    return change


def test_operators_without_outputs_are_refused():
    """(static_shapes indexed a RESHAPE's output before any check: an IndexError.)"""
    data = mutate(fc_model(), _add_op("RESHAPE", [0, 1], []))
    assert "RESHAPE (op 1, 'op_1') has no output: the model is malformed" in refusal(data)


def test_a_reshape_without_its_data_input_reaches_its_check():
    def reshape_absent_input(m):
        _add_op("RESHAPE", [-1, 1], [4])(m)
        t = s.TensorT()
        t.name, t.shape, t.type = "r", np.array([4, 6], np.int32), s.TensorType.INT8
        sub(m).tensors.append(t)
        sub(m).outputs = np.array([3, 4], np.int32)
    with pytest.raises(UserError, match="RESHAPE \\(op 1, 'r'\\)"):
        compile_tflite(mutate(fc_model(), reshape_absent_input), name="m")


def test_a_float_shape_operand_is_refused():
    """(static_shapes converted a float32 shape operand's NaN to int: a ValueError the fuzzer
    found.)"""
    data = model("RESHAPE", [T((1, 2, 6), scale=0.1),
                             T((2,), "float32", data=np.array([1, np.nan], np.float32))],
                 [T((1, 12), scale=0.1)])
    with pytest.raises(UserError, match=r"RESHAPE \(op 0, 'out0'\): shape operand 'in1' is "
                                        "float32; int32 expected"):
        compile_tflite(data, name="m")


def test_ir_errors_of_the_model_name_the_operator():
    def twice(m):
        sub(m).operators = [sub(m).operators[0], sub(m).operators[0]]
    text = refusal(mutate(fc_model(), twice))
    assert "FULLY_CONNECTED (op 1, 'out0') writes 'out0', which is already defined: the model " \
           "is malformed" in text

    def reads_output(m):
        sub(m).operators[0].inputs = np.array([3, 1, 2], np.int32)
    assert "FULLY_CONNECTED (op 0, 'out0') reads 'out0' before it is computed" in refusal(
        mutate(fc_model(), reads_output))


def test_buffers_stored_after_the_flatbuffer_are_read():
    """Buffer.offset/size: the data after the flatbuffer (as the converter writes models over
    2 GB); bit-exact against the reference, which reads it the same way."""
    data = fc_model(per_channel=True)
    blobs = {}

    def move(m, base=None):
        at = base
        for k, buf in enumerate(m.buffers):
            if buf.data is not None and len(buf.data):
                blobs[k] = bytes(np.asarray(buf.data, np.uint8))
            if k in blobs:
                buf.data = None
                buf.size = len(blobs[k])
                buf.offset = 1 << 40 if base is None else at
                at = None if base is None else at + (len(blobs[k]) + 15) // 16 * 16
    first = mutate(data, move)
    base = (len(first) + 15) // 16 * 16
    second = mutate(data, lambda m: move(m, base))
    assert len(second) == len(first)
    tail = b"".join(blob + b"\0" * (-len(blob) % 16) for _, blob in sorted(blobs.items()))
    model_bytes = second + b"\0" * (base - len(second)) + tail
    g = read_tflite(model_bytes)
    assert g.tensors["in1"].is_const
    assert_bit_exact(model_bytes, count=8)


# --- the compile boundaries ---------------------------------------------------------------------

def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_an_exception_in_a_lowering_names_the_op(tmp_path, capsys):
    """A FULLY_CONNECTED whose bias plus input offset times the row sums overflows int32: the
    check accepts it, the lowering raises; the user gets one line naming the op (exit 2), and
    --debug the traceback."""
    bias = np.full(4, 2**31 - 10, np.int32)
    path = tmp_path / "fc.tflite"
    path.write_bytes(fc_model(bias=bias, in_zp=-128))
    code, _, err = cli(capsys, "compile", path, "-o", tmp_path / "out")
    line = one_error_line(err)
    assert code == 2 and not (tmp_path / "out").exists()
    assert line.startswith("error: FULLY_CONNECTED (op 0, 'out0'): cannot compile: "
                           "OverflowError:")
    assert line.endswith("this model is malformed or unusual; report it with the --debug output")
    code, _, err = cli(capsys, "--debug", "compile", path, "-o", tmp_path / "out")
    assert code == 2 and "Traceback" in err and "fully_connected.py" in err


def test_ir_errors_and_crashes_in_checks_name_the_op(monkeypatch):
    from tinycompress.ops import REGISTRY

    for exc in (IRError("per-tensor scale asked of a per-channel quantisation"),
                IndexError("list index out of range")):
        def boom(op, g, exc=exc):
            raise exc
        monkeypatch.setattr(REGISTRY["FULLY_CONNECTED"], "check", boom)
        with pytest.raises(OpCompileError) as e:
            compile_tflite(fc_model(), name="m")
        assert str(e.value).startswith(f"FULLY_CONNECTED (op 0, 'out0'): cannot compile: "
                                       f"{type(exc).__name__}: {exc}")
        assert e.value.__cause__ is exc


def test_an_exception_in_a_pass_is_a_user_error(monkeypatch):
    def boom(g):
        raise KeyError("x")
    monkeypatch.setitem(passes.REGISTRY, "static_shapes",
                        passes.Pass(passes.REGISTRY["static_shapes"].spec, boom))
    with pytest.raises(UserError, match=r"^src.tflite: cannot compile: KeyError: 'x'; this "
                                        "model is malformed or unusual"):
        compile_tflite(fc_model(), name="m", source="src.tflite")


def test_warnings_on_the_way_to_an_error_are_not_printed(tmp_path, capsys):
    """A TANH whose output scale is 1e-39: its table's 1/scale overflows float32 (numpy warns)
    and the lowering fails. The user sees the one error line; --debug shows the warning too."""
    path = tmp_path / "tanh.tflite"
    path.write_bytes(model("TANH", [T((1, 8), scale=0.05)], [T((1, 8), scale=1e-39)]))
    with pytest.warns(RuntimeWarning, match="overflow"):  # (pytest records what is shown)
        assert cli(capsys, "--debug", "compile", path, "-o", tmp_path / "out")[0] == 2
    path.write_bytes(model("TANH", [T((1, 8), scale=0.05)], [T((1, 8), scale=2e-39)]))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        code, _, err = cli(capsys, "compile", path, "-o", tmp_path / "out")
    assert code == 2 and "TANH (op 0, 'out0'): cannot compile" in one_error_line(err)
    assert not shown


def test_cli_errors_are_one_printable_line(tmp_path, capsys, monkeypatch):
    assert one_line("a\nb\x1b[31m\tc  d") == "a b\\x1b[31m c d"
    path = tmp_path / "fc.tflite"
    path.write_bytes(mutate(fc_model(), _tensor(0, name="in\n\x1b[2Jput", type=15)))
    code, _, err = cli(capsys, "compile", path, "-o", tmp_path / "out")
    assert code == 2 and "\x1b" not in err
    assert "tensor 'in \\x1b[2Jput' has type UINT32" in one_error_line(err)

    import tinycompress.api as api

    def bug(*args, **kwargs):
        raise RuntimeError("unexpected\nstate")
    monkeypatch.setattr(api, "compile_model", bug)
    code, _, err = cli(capsys, "compile", path, "-o", tmp_path / "out")
    assert code == 3
    assert one_error_line(err) == ("error: internal error (RuntimeError): unexpected state; "
                                   "this is a tinycompress bug: report it with the --debug output")


# --- quantisation quirks --------------------------------------------------------------------------

def test_normal_quant_rule():
    assert normal_quant((8,), 1, [0], 3) == (0, [0], [
        "quantized_dimension 3 on per-tensor tensors set to 0"])
    assert normal_quant((8,), 8, [0] * 8, 3)[:2] == (0, [0] * 8)
    assert normal_quant((2, 3), 1, [5], -1)[:2] == (0, [5])
    assert normal_quant((), 1, [1], 0) == (0, [1], [])
    assert normal_quant((1, 3, 3, 8), 8, [0] * 8, 3) == (3, [0] * 8, [])
    axis, zps, notes = normal_quant((4, 6), 4, [0], 0)
    assert zps == [0] * 4 and notes == ["one zero point for per-channel scales repeated on "
                                        "every channel"]
    for args, message in [(((4, 6), 4, [0] * 4, 2), "4 scales along axis 2, which shape [4, 6]"),
                          (((8,), 4, [0] * 4, 3), "4 scales along axis 3, which shape [8]"),
                          (((4,), 1, None, 0), "1 scale(s) but no zero point"),
                          (((4,), 4, [0, 0], 0), "4 scales but 2 zero points")]:
        with pytest.raises(QuantError, match=re.escape(message)):
            normal_quant(*args)


@pytest.mark.parametrize("per_channel", [False, True])
def test_bias_quantized_dimension_3_compiles_and_matches_the_normalised_reference(per_channel):
    data = fc_model(bias_axis=3, per_channel=per_channel)
    with pytest.raises(ValueError, match="quantized_dimension must be in range"):
        from ai_edge_litert.interpreter import Interpreter
        Interpreter(model_content=data)
    note = ("quantized_dimension 3 on 1-D per-channel tensors (biases) set to 0 (1 tensor)"
            if per_channel else "quantized_dimension 3 on per-tensor tensors set to 0 (1 tensor)")
    assert quirk_notes(data) == [note]
    copy, notes = normalise_tflite(data)
    assert notes == [note] and quirk_notes(copy) == []
    assert Reference(data).normalised == [note]
    manifest = assert_bit_exact(data, count=32, spread=dict(min_distinct=32))
    assert manifest["reference_normalised"] == [note]


def test_verify_reports_the_normalised_reference(tmp_path, capsys):
    import json

    path = tmp_path / "fc.tflite"
    path.write_bytes(fc_model(bias_axis=3))
    assert cli(capsys, "compile", path, "-o", tmp_path / "out")[0] == 0
    code, out, _ = cli(capsys, "verify", tmp_path / "out", "--json", "--vectors", "5")
    report = json.loads(out)
    assert code == 0 and report["bit_exact"]
    assert report["reference_normalised"] == [
        "quantized_dimension 3 on per-tensor tensors set to 0 (1 tensor)"]


def test_a_single_zero_point_for_per_channel_scales():
    data = mutate(fc_model(per_channel=True), _quant(2, zeroPoint=[0]))
    assert quirk_notes(data) == ["one zero point for per-channel scales repeated on every "
                                 "channel (1 tensor)"]
    assert_bit_exact(data, count=8)


def test_models_without_quirks_are_used_as_they_are():
    data = fc_model(per_channel=True)
    assert normalise_tflite(data) == (data, [])
    assert Reference(data).normalised == []
    assert compile_tflite(data, name="m")[1]["reference_normalised"] == []


def test_the_reference_refusing_a_model_is_a_user_error():
    data = mutate(fc_model(), _quant(0, zeroPoint=[0, 0]))  # 1 scale, 2 zero points
    with pytest.raises(UserError, match="the reference interpreter \\(LiteRT\\) refuses the "
                                        "model: .*zero_point"):
        Reference(data)


@pytest.mark.slow
@pytest.mark.skipif(not (TFLM / "person_detect.tflite").exists(),
                    reason="TFLM example models not present")
def test_person_detect_is_bit_exact_against_the_normalised_reference():
    data = (TFLM / "person_detect.tflite").read_bytes()
    manifest = assert_bit_exact(data, count=10, sanitize=False)
    assert manifest["reference_normalised"] == [
        "quantized_dimension 3 on 1-D per-channel tensors (biases) set to 0 (14 tensors)"]
    assert manifest["ops"] == {"AVERAGE_POOL_2D": 1, "CONV_2D": 14, "DEPTHWISE_CONV_2D": 14,
                               "RESHAPE": 1, "SOFTMAX": 1}


# --- seeded random byte mutations through the CLI ------------------------------------------------

def _small_models() -> dict[str, bytes]:
    found = {"fc": fc_model(units=8, depth=16, per_channel=True),
             "conv": conv_model(6, 6, 3, 4, 3, 3, stride=(2, 2), act="RELU")}
    hello = TFLM / "hello_world_int8.tflite"
    found["third"] = hello.read_bytes() if hello.exists() else conv_model(
        5, 5, 2, 2, 3, 3, depth_multiplier=1)
    return found


def test_random_byte_mutations_through_the_cli(tmp_path, capsys, monkeypatch):
    """400 mutations of 1-4 random bytes of three small INT8 models: `tinycompress compile`
    ends with exit 0, or exit 2 and exactly one stderr line 'error: ...' and no OUTDIR (nor a
    temporary one) left behind. The code size is estimated (no arm-none-eabi-gcc run)."""
    import tinycompress.compiler as compiler

    monkeypatch.setattr(compiler.shutil, "which", lambda name: None)
    rng = np.random.default_rng(2024)
    models = list(_small_models().values())
    outcomes = {0: 0, 2: 0}
    for k in range(400):
        data = bytearray(models[k % len(models)])
        for pos in rng.integers(0, len(data), rng.integers(1, 5)):
            data[pos] = rng.integers(0, 256)
        work = tmp_path / f"m{k}"
        work.mkdir()
        (work / "x.tflite").write_bytes(bytes(data))
        code, _, err = cli(capsys, "compile", work / "x.tflite", "-o", work / "out")
        assert code in (0, 2), (k, code, err)
        outcomes[code] += 1
        if code == 2:
            one_error_line(err)
            assert sorted(p.name for p in work.iterdir()) == ["x.tflite"], (k, err)
        else:
            assert (work / "out" / "manifest.json").exists()
    assert outcomes[0] > 20 and outcomes[2] > 100, outcomes
