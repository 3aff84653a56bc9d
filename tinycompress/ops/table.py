"""The operator table: every builtin operator TFLite for Microcontrollers registers, and its state
in tinycompress.

A supported operator names the module of this package that validates and lowers it (its
`Lowering`), the kernel templates that lowering may render and the test files that check it
bit-exactly. A refused one says why. `tinycompress.ops` imports exactly the modules named here,
the emitter refuses a kernel template an entry does not declare, and the README's operator table is
generated from this one (`python -m tinycompress.ops.table --write README.md`; a test keeps them
equal). Adding an operator is one module, its tests and one line here.

The entries are grouped as the work on them is; keep a new line inside its group."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Supported:
    module: str  # tinycompress/ops/<module>.py
    templates: tuple[str, ...]  # portable templates (cores/<family>/ may override each)
    tests: tuple[str, ...]  # tests/<file>
    note: str = ""


@dataclass(frozen=True)
class Refused:
    why: str


def op(module: str, templates: str | tuple[str, ...], tests: str | tuple[str, ...],
       note: str = "") -> Supported:
    as_tuple = (lambda v: (v,) if isinstance(v, str) else tuple(v))
    # A bare name is a portable kernel (templates/kernels/<name>.c.j2, which a core's
    # templates/cores/<family>/kernels/ may override); a path is taken as it is.
    return Supported(module, tuple(t if "/" in t else f"kernels/{t}.c.j2"
                                   for t in as_tuple(templates)), as_tuple(tests), note)


FLOAT = Refused("float-only in TFLM's int8 models: quantise the model to INT8")
CONTROL = Refused("control flow (subgraphs): convert without WHILE/IF/CALL_ONCE")
DYNAMIC = Refused("computes shapes at run time: tinycompress compiles static shapes (batch 1)")
RESOURCE = Refused("resource variables: convert with the state as variable tensors (the default)")
BOOL = Refused("boolean tensors: not produced by INT8 post-training quantisation")

OPERATORS: dict[str, Supported | Refused] = {
    # --- convolutions and matrix products
    "CONV_2D": op("conv_2d", ("conv_2d_s8", "conv_2d_s8_1x1", "conv_2d_s8_packed",
                              "cores/dsp/kernels/conv_2d_s8.c.j2",
                              "cores/dsp/kernels/conv_2d_s8_1x1.c.j2",
                              "cores/dsp/kernels/conv_2d_s8_w16.c.j2",
                              "cores/mve/kernels/conv_2d_s8.c.j2",
                              "cores/mve/kernels/conv_2d_s8_1x1.c.j2",
                              "cores/dsp/kernels/conv_2d_s4.c.j2"),
                  ("test_op_conv_2d.py", "test_cores_dsp.py", "test_cores_mve.py",
                   "test_weight_formats.py", "test_int4.py")),
    "DEPTHWISE_CONV_2D": op("depthwise_conv_2d", ("depthwise_conv_2d_s8",
                                                  "depthwise_conv_2d_s8_packed",
                                                  "cores/dsp/kernels/depthwise_conv_2d_s8.c.j2",
                                                  "cores/dsp/kernels/depthwise_conv_2d_s8_w16.c.j2",
                                                  "cores/mve/kernels/depthwise_conv_2d_s8.c.j2"),
                            ("test_op_depthwise_conv_2d.py", "test_cores_dsp.py",
                             "test_weight_formats.py", "test_int4.py"), "any depth multiplier"),
    "FULLY_CONNECTED": op("fully_connected", ("fully_connected_s8", "fully_connected_s8_packed",
                                              "fully_connected_s8_csr", "fully_connected_s8_hcsr",
                                              "cores/dsp/kernels/fully_connected_s8.c.j2",
                                              "cores/dsp/kernels/fully_connected_s8_w16.c.j2",
                                              "cores/mve/kernels/fully_connected_s8.c.j2",
                                              "cores/mve/kernels/fully_connected_s8_csr_mve.c.j2",
                                              "cores/dsp/kernels/fully_connected_s4.c.j2"),
                          ("test_op_fully_connected.py", "test_cores_dsp.py",
                           "test_weight_formats.py", "test_weight_formats_qemu.py",
                           "test_int4.py"), "per-tensor and per-channel weights"),

    # --- pooling, reductions
    "AVERAGE_POOL_2D": op("average_pool_2d", "avg_pool_s8", "test_op_pool.py"),
    "MAX_POOL_2D": op("max_pool_2d", "max_pool_s8", "test_op_pool.py"),
    "MEAN": op("mean", "mean_s8", "test_op_mean.py"),
    "L2_POOL_2D": FLOAT,

    # --- elementwise arithmetic (with broadcasting)
    "ADD": op("add", ("add_s8", "add_s8_mve"), "test_op_add.py", "with broadcasting"),
    "MUL": op("mul", "mul_s8", "test_op_mul.py", "with broadcasting"),

    # --- activations and tables
    "LOGISTIC": op("logistic", "lut_s8", "test_op_activations.py"),
    "TANH": op("tanh", "lut_s8", "test_op_activations.py"),
    "SOFTMAX": op("softmax", ("softmax_s8", "softmax_s8_exp"), "test_op_softmax.py",
                  "int8 and int16 output"),

    # --- shapes and copies
    "RESHAPE": op("reshape", "copy", ("test_passes.py", "test_planner.py"),
                  "free: the planner aliases it"),
    "CONCATENATION": op("concatenation", "concatenation_s8", "test_op_concatenation.py"),
    "PAD": op("pad", "pad_s8", "test_op_pad.py"),
    "PADV2": op("pad", "pad_s8", "test_op_pad.py"),

    # --- type conversions
    "QUANTIZE": op("quantize", ("quantize_f32_s8", "lut_s8", "requantize_s16"),
                   "test_op_quantize.py", "float32 -> int8; int8 -> int8, int16; int16 -> int8, "
                   "int16 (zero points 0), int32"),
    "DEQUANTIZE": op("dequantize", ("dequantize_s8_f32", "dequantize_s16_f32"),
                     "test_op_quantize.py", "int8, int16 (zero point 0) -> float32"),
    "CAST": op("cast", "cast", "test_op_cast.py",
               "int8, int16, int32 each way (raw values; narrowing wraps as the reference)"),

    # --- activations, normalisations (to do: helper "act")
    "HARD_SWISH": op("hard_swish", "lut_s8", "test_op_hard_swish.py",
                      "int8: table of the reference's int16 arithmetic"),
    "LEAKY_RELU": op("leaky_relu", ("lut_s8", "requant_s16"), "test_op_leaky_relu.py",
                      "int8, int16; any alpha (negative: the magnitude rounded, as the reference)"),
    "PRELU": op("prelu", "prelu_s8", "test_op_prelu.py", "int8, alpha broadcast"),
    "RELU": op("relu", ("lut_s8", "requant_s16"), "test_op_relu.py", "int8, int16"),
    "RELU6": op("relu", ("lut_s8", "requant_s16"), "test_op_relu.py", "int8, int16"),
    "RELU_N1_TO_1": op("relu", "lut_s8", "test_op_relu.py", "int8"),
    "RELU_0_TO_1": op("relu", "lut_s8", "test_op_relu.py", "int8"),
    "RSQRT": op("rsqrt", "lut_s8", "test_op_rsqrt.py",
                "int8: table of the reference's fixed-point inverse square root"),
    "ELU": op("elu", "lut_s8", "test_op_elu.py",
              "int8; the reference runs it on the builtin kernel (BUILTIN_REF has none)"),
    "LOG_SOFTMAX": op("log_softmax", "log_softmax_s8", "test_op_log_softmax.py",
                       "int8, output scale 16/256, zero point 127"),
    "L2_NORMALIZATION": op("l2_normalization", "l2_normalization_s8",
                            "test_op_l2_normalization.py",
                            "int8, output scale 1/128, zero point 0"),

    # --- elementwise binary and unary, reductions (to do: helper "binary")
    "SUB": op("sub", ("add_s8", "add_s8_mve"), ("test_op_sub.py", "test_op_keras_binary.py"),
              "with broadcasting; ADD's kernels"),
    "MAXIMUM": op("maximum", "maximum_minimum", ("test_op_maximum.py", "test_op_keras_binary.py"),
                  "int8, int16; with broadcasting"),
    "MINIMUM": op("maximum", "maximum_minimum", "test_op_maximum.py",
                  "int8, int16; with broadcasting"),
    "SQUARED_DIFFERENCE": op("squared_difference", "squared_difference_s8",
                             "test_op_squared_difference.py", "with broadcasting"),
    "ABS": op("abs", "abs", "test_op_abs.py", "int8, int16; rescaling"),
    "CUMSUM": op("cumsum", "cumsum", "test_op_cumsum.py",
                 "int32 (the reference has no int8); exclusive, reverse"),
    "ZEROS_LIKE": op("zeros_like", "zeros_like", "test_op_zeros_like.py",
                     "int32 (the reference has no int8)"),
    "NEG": op("neg", "neg", "test_op_neg.py", "int8, int16: the raw negation, as the reference"),
    "ADD_N": Refused("int8 ADD_N is not in TFLite's reference kernels (float32 and int32 only): "
                     "convert with a chain of ADD"),
    "REDUCE_MAX": op("reduce_max", "reduce_max", ("test_op_reduce_max.py",
                                                  "test_op_keras_binary.py"),
                     "int8, int16; any axes (GlobalMaxPooling2D)"),
    "REDUCE_MIN": op("reduce_max", "reduce_max", "test_op_reduce_max.py", "int8, int16; any axes"),
    "SUM": op("sum", "sum_s8", "test_op_sum.py",
              "rescaling; the reference runs it on a twin (the interpreter misreads int8 as uint8)"),
    "ARG_MAX": op("arg_max", "arg_max", "test_op_arg_max.py", "int8 in, int32 or int64 out"),
    "ARG_MIN": op("arg_max", "arg_max", "test_op_arg_max.py", "int8 in, int32 or int64 out"),

    # --- slicing and layout (to do: helper "layout")
    "STRIDED_SLICE": op("strided_slice", "strided_copy", "test_op_strided_slice.py",
                        "all masks, negative strides, offset; int8/16/32, float32"),
    "SLICE": op("slice", "strided_copy", "test_op_slice.py", "int8/16/32, float32"),
    "SPLIT": op("split", "strided_copy", "test_op_split.py", "int8/16/32, float32"),
    "SPLIT_V": op("split", "strided_copy", "test_op_split.py", "int8/16/32, float32"),
    "TRANSPOSE": op("transpose", "strided_copy", "test_op_transpose.py",
                    "up to rank 8; int8/16/32, float32"),
    "PACK": op("pack", "strided_copy", "test_op_pack.py", "int8/16/32, float32"),
    "UNPACK": op("unpack", "strided_copy", "test_op_unpack.py", "int8/16/32, float32"),
    "SQUEEZE": op("squeeze", "copy", "test_op_squeeze.py", "free: the planner aliases it"),
    "EXPAND_DIMS": op("expand_dims", "copy", "test_op_expand_dims.py",
                      "free: the planner aliases it"),

    # --- gathering, tiling, resizing (to do: helper "gather")
    "GATHER": op("gather", ("copy_nest", "gather"),
                 ("test_op_gather.py", "test_op_movers_keras.py"),
                 "any axis; constant or run-time params and indices (run-time ones clamped)"),
    "GATHER_ND": op("gather_nd", ("copy_nest", "gather", "gather_nd"), "test_op_gather_nd.py",
                    "int8, int16, int32 params; constant or run-time indices (run-time clamped)"),
    "EMBEDDING_LOOKUP": op("embedding_lookup", ("copy_nest", "gather"),
                           "test_op_embedding_lookup.py",
                           "int8, int16, int32 values (GATHER's kernels; run-time ids clamped)"),
    "TILE": op("tile", "copy_nest", ("test_op_tile.py", "test_op_movers_keras.py"),
               "int8, int16, int32"),
    "BROADCAST_TO": op("broadcast_to", "copy_nest", "test_op_broadcast_to.py",
                       "up to rank 8; int8, int16, int32"),
    "MIRROR_PAD": op("mirror_pad", "mirror_pad", ("test_op_mirror_pad.py",
                                                  "test_op_movers_keras.py"),
                     "REFLECT and SYMMETRIC; int8, int16, int32"),
    "SPACE_TO_DEPTH": op("space_to_depth", "copy_nest", ("test_op_space_to_depth.py",
                                                         "test_op_movers_keras.py"),
                         "int8, int32"),
    "DEPTH_TO_SPACE": op("depth_to_space", "copy_nest", ("test_op_depth_to_space.py",
                                                         "test_op_movers_keras.py"),
                         "int8, int32"),
    "RESIZE_NEAREST_NEIGHBOR": op("resize_nearest_neighbor", "resize_nearest",
                                  ("test_op_resize_nearest_neighbor.py",
                                   "test_op_movers_keras.py"),
                                  "align_corners, half_pixel_centers; int8, int16, int32"),
    "RESIZE_BILINEAR": op("resize_bilinear", "resize_bilinear", ("test_op_resize_bilinear.py",
                                                                 "test_op_movers_keras.py"),
                          "align_corners or half_pixel_centers; int8, int16"),
    "BATCH_TO_SPACE_ND": op("batch_to_space_nd", "copy_nest", "test_op_batch_to_space_nd.py",
                            "3-D and 4-D; int8, int16, int32"),
    "SPACE_TO_BATCH_ND": op("space_to_batch_nd", "copy_nest", "test_op_space_to_batch_nd.py",
                            "3-D and 4-D; int8, int16, int32"),

    # --- transposed convolution, matrix product (to do: helper "mathops")
    "TRANSPOSE_CONV": op("transpose_conv", "transpose_conv_s8", "test_op_transpose_conv.py",
                         "int8 and 16x8, per-channel or per-tensor filters"),
    "BATCH_MATMUL": op("batch_matmul", "batch_matmul_s8", "test_op_batch_matmul.py",
                       "int8, adj_x/adj_y, broadcast batches, constant operand folded"),

    # --- stateful: SVDF (to do: helper "svdf"; it also extends QUANTIZE to int16 <-> int8)
    "SVDF": op("svdf", "svdf_s8", ("test_op_svdf.py", "test_tflm_examples.py"),
               "int8 with int16 state (TFLite) or int8 state (TFLM); NONE, RELU"),

    # --- recurrent (to do: helper "lstm")
    "UNIDIRECTIONAL_SEQUENCE_LSTM": op("unidirectional_sequence_lstm", "lstm_s8",
                                       ("test_op_lstm.py", "test_tflm_lstm.py"),
                                       "integer LSTM (int8, int16 cell state); stateful"),

    # --- not planned
    "DIV": Refused("int8 DIV is not in TFLite's reference kernels for int8 (float32 and uint8 "
                   "only): restructure as MUL by a constant"),
    "FLOOR_DIV": FLOAT,
    "FLOOR_MOD": FLOAT,
    "EXP": FLOAT,
    "LOG": FLOAT,
    "SQRT": FLOAT,
    "SQUARE": FLOAT,
    "SIN": FLOAT,
    "COS": FLOAT,
    "CEIL": FLOAT,
    "FLOOR": FLOAT,
    "ROUND": FLOAT,
    "SELECT_V2": BOOL,
    "EQUAL": BOOL,
    "NOT_EQUAL": BOOL,
    "GREATER": BOOL,
    "GREATER_EQUAL": BOOL,
    "LESS": BOOL,
    "LESS_EQUAL": BOOL,
    "LOGICAL_AND": BOOL,
    "LOGICAL_OR": BOOL,
    "LOGICAL_NOT": BOOL,
    "FILL": DYNAMIC,
    "SHAPE": Refused("removed by the static_shapes pass when it feeds a RESHAPE; otherwise "
                     "computes shapes at run time"),
    "BROADCAST_ARGS": DYNAMIC,
    "WHILE": CONTROL,
    "IF": CONTROL,
    "CALL_ONCE": CONTROL,
    "VAR_HANDLE": RESOURCE,
    "READ_VARIABLE": RESOURCE,
    "ASSIGN_VARIABLE": RESOURCE,
}


def supported() -> dict[str, Supported]:
    return {k: v for k, v in OPERATORS.items() if isinstance(v, Supported)}


def markdown() -> str:
    """The README's operator table: every TFLM builtin, sorted, with its state here."""
    lines = ["| operator | state | notes | tests |", "|---|---|---|---|"]
    for kind in sorted(OPERATORS):
        e = OPERATORS[kind]
        if isinstance(e, Supported):
            tests = ", ".join(f"`{t}`" for t in e.tests)
            lines.append(f"| {kind} | supported | {e.note} | {tests} |")
        else:
            lines.append(f"| {kind} | not supported | {e.why} | |")
    n = len(supported())
    lines.append("")
    lines.append(f"{n} of the {len(OPERATORS)} builtin operators TFLM registers are supported.")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- operators:begin -->\n", "<!-- operators:end -->\n"


def with_table(readme: str) -> str:
    """README text with the generated table between the BEGIN and END markers."""
    head, sep, rest = readme.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError("README lacks the operator table markers")
    return head + BEGIN + markdown() + END + tail


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"] and len(argv) == 2:
        path = Path(argv[1])
        path.write_text(with_table(path.read_text()))
        return 0
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
