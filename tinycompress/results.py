"""The typed results of compile, verify, check, export, compress, distill, qat, fit and report.

One frozen dataclass per command. The Python API (``tinycompress.compile(...)`` and the others)
returns them; the CLI's ``--json`` prints ``result.to_json()``. Every field carries its
documentation (``field.metadata["doc"]``); the JSON Schema of each result (draft 2020-12) is
generated from the dataclass fields and type hints (:func:`json_schema`), and is committed under
docs/schema/ (``python -m tinycompress.results --schema docs/schema`` writes it again).

Fields marked ``omit_none`` are left out of the JSON when they are None (the keys that only some
runs have: accuracy without labels, the QEMU figures on the host); ``json=False`` fields (the
full manifest of a compile) are for Python callers and never in the JSON.

This module imports nothing of tinycompress: every layer may use it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, Literal

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://tinycompress.invalid/schema/"  # names the schema files; never fetched


def doc(text: str, *, omit_none: bool = False, json: bool = True, default=MISSING,
        default_factory=MISSING):
    """A dataclass field documented by `text` (see the module docstring for the flags)."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"doc": text, "omit_none": omit_none, "json": json})


class Result:
    """Base of every result: JSON conversion, both ways, and the JSON Schema."""

    def to_json(self) -> dict:
        """The result as a dict of JSON types (what the CLI's --json prints)."""
        out = {}
        for f in dataclasses.fields(self):
            if not f.metadata.get("json", True):
                continue
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = _to_json(value)
        return out

    @classmethod
    def from_json(cls, data: dict):
        """The result from a dict such as :meth:`to_json` returns; unknown keys are refused
        (ValueError), so a key a command adds without a field here cannot go unnoticed."""
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("json", True)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {', '.join(unknown)}")
        return cls(**{k: _from_json(hints[k], v) for k, v in data.items()})

    @classmethod
    def from_json_with(cls, data: dict, **python_only):
        """:meth:`from_json`, with the fields that are not in the JSON (``json=False``) set."""
        return dataclasses.replace(cls.from_json(data), **python_only)

    @classmethod
    def schema(cls) -> dict:
        """The JSON Schema (draft 2020-12) of :meth:`to_json`'s output."""
        defs: dict = {}
        top = _object_schema(cls, defs)
        name = _schema_name(cls)
        head = {"$schema": SCHEMA_DIALECT, "$id": f"{SCHEMA_ID}{name}.json",
                "title": f"tinycompress {name} result"}
        return {**head, **top, **({"$defs": dict(sorted(defs.items()))} if defs else {})}


def json_types(value):
    """``value`` as JSON types: results, paths, tuples and numpy scalars converted."""
    return _to_json(value)


def _to_json(value):
    if isinstance(value, Result):
        return value.to_json()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def _from_json(hint, value):
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _from_json(inner[0], value) if len(inner) == 1 else value
    if isinstance(hint, type) and issubclass(hint, Result):
        return hint.from_json(value)
    if hint is Path:
        return Path(value)
    if origin in (list, tuple):
        item = args[0] if args else Any
        return type(value)(_from_json(item, v) for v in value) if origin is list else \
            tuple(_from_json(item, v) for v in value)
    if origin is dict and len(args) == 2:
        return {k: _from_json(args[1], v) for k, v in value.items()}
    return value


_SCALARS = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"},
            bool: {"type": "boolean"}, type(None): {"type": "null"}, Path: {"type": "string"}}


def _type_schema(hint, defs: dict) -> dict:
    """The JSON Schema of one type hint; nested results go into `defs` (by class name)."""
    if hint is Any:
        return {}
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a, defs) for a in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, tuple):
        return {"type": "array", "items": _type_schema(args[0], defs) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs)}
    if isinstance(hint, type) and issubclass(hint, Result):
        if hint.__name__ not in defs:
            defs[hint.__name__] = {}  # placeholder against recursion
            defs[hint.__name__] = _object_schema(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    raise TypeError(f"no JSON Schema for type {hint!r}")


def _object_schema(cls, defs: dict) -> dict:
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        if not f.metadata.get("json", True):
            continue
        props[f.name] = {"description": f.metadata.get("doc", ""),
                         **_type_schema(hints[f.name], defs)}
        if not f.metadata.get("omit_none"):
            required.append(f.name)
    return {"description": " ".join((cls.__doc__ or "").split()), "type": "object",
            "properties": props, "required": required, "additionalProperties": False}


def _schema_name(cls) -> str:
    return cls.__name__.removesuffix("Result").lower()


# --- compile --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerWeights(Result):
    """One emitted layer's parameter storage."""

    name: str = doc("The layer's name (its first output tensor's name in the model).")
    op: str = doc("The TFLite operator, e.g. FULLY_CONNECTED.")
    weight_format: str = doc("How its weights are stored: dense, lut, sparse or huffman.")
    weights_bytes: int = doc("Bytes of its parameters in flash, as stored.")
    dense_weights_bytes: int = doc("Bytes its parameters would take stored dense (int8).")
    instructions_estimate: int | None = doc(
        "The cost model's instructions per inference for the target core (ops/cost.py; None: "
        "no model for its kernel).")


@dataclass(frozen=True)
class Recognised(Result):
    """What compile read from the marker a training command (compress, qat, distill) saved
    inside the .keras file (frontends/marker.py)."""

    steps: list[str] = doc("The training commands applied, in order.")
    pruned_layers: list[str] = doc("Layers compress pruned.")
    shared_layers: list[str] = doc("Layers compress weight-shared.")
    grid: str | None = doc("Shared values on the per-tensor int8 grid ('int8'), float ('none'), "
                           "or None (no sharing).")
    qat_per_channel: bool | None = doc("The weight scales QAT simulated (None: no QAT).")
    chosen: dict[str, Any] = doc("The settings chosen from the marker (weights, per_channel), "
                                 "where no flag was given.")
    overridden: list[str] = doc("Settings the marker suggests that flags overrode.")


@dataclass(frozen=True)
class CompileResult(Result):
    """What `compile` wrote: the model's operators, MACs, flash and RAM."""

    outdir: Path = doc("The output directory.")
    name: str = doc("Prefix of every C identifier.")
    board: str | None = doc("The board whose core's kernels were selected (None: portable C).")
    ops: dict[str, int] = doc("Operator -> number of layers using it.")
    layers: int = doc("Layers emitted.")
    macs: int = doc("Multiply-accumulates per inference.")
    weights_bytes: int = doc("Bytes of all parameters in flash.")
    code_bytes: int = doc("Bytes of the generated code in flash (see flash_source).")
    flash_bytes: int = doc("Code + parameters in flash (see flash_source).")
    flash_source: str = doc("Whether flash_bytes was measured with arm-none-eabi-gcc or estimated.")
    arena_bytes: int = doc("The activation arena (RAM).")
    state_bytes: int = doc("State kept between invocations (RAM; 0 without stateful ops).")
    ram_bytes: int = doc("arena_bytes + state_bytes.")
    files: list[str] = doc("The files tinycompress wrote into outdir (paths relative to it).")
    src_dir: Path = doc("The generated C (outdir/src): add it to the include path and compile "
                        "its .c files.")
    weights: str = doc("The --weights choice (auto, dense, lut, sparse, huffman, int4, csr, "
                       "hcsr, hcsr+raw), "
                       "given or recognised.")
    optimize: str | None = doc("What --weights auto ranked by: balanced, size or speed (None: "
                               "weights not auto).")
    per_channel_weights: bool = doc("Weights quantised per output channel (False: per tensor), "
                                    "given or recognised.")
    recognised: Recognised | None = doc("What compile read from the model's tinycompress marker "
                                        "(None: no marker).")
    per_layer: list[LayerWeights] = doc("Parameter storage per layer, in execution order.")
    manifest: dict[str, Any] | None = doc(
        "The full manifest.json (Python only, not in the JSON).", json=False, default=None)


# --- verify ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mismatch(Result):
    """The first output element that differed from the reference."""

    vector: int = doc("Index of the input vector.")
    index: int = doc("Index of the element in the flattened output.")
    got: float = doc("The generated C's value.")
    expected: float = doc("The reference interpreter's value.")
    output: int | None = doc("Index of the model output it is in (in the totals' first "
                             "mismatch).", omit_none=True, default=None)


@dataclass(frozen=True)
class OutputComparison(Result):
    """One model output compared with the reference."""

    name: str = doc("The output tensor's name.")
    shape: list[int] = doc("Its shape.")
    bit_exact: bool = doc("True when every element of this output equals the reference's.")
    mismatches: int = doc("Elements of this output that differ.")
    mismatched_vectors: int = doc("Vectors with at least one differing element in it.")
    max_abs_diff: float = doc("Largest absolute difference in it (0 when bit-exact).")
    first_mismatch: Mismatch | None = doc("Its first difference (absent when bit-exact).",
                                          omit_none=True, default=None)


@dataclass(frozen=True)
class LayerInstructions(Result):
    """One layer's instruction count under QEMU."""

    name: str = doc("The layer's name.")
    op: str = doc("The TFLite operator.")
    weight_format: str = doc("How its weights are stored.")
    weights_bytes: int = doc("Bytes of its parameters.")
    instructions: int = doc("Instructions it executed per inference (most over the vectors).")


_QEMU = " (--target qemu only)"


@dataclass(frozen=True)
class VerifyResult(Result):
    """The generated C's outputs compared bit for bit with the TFLite reference interpreter."""

    target: Literal["host", "qemu"] = doc("Where the C ran.")
    vectors: int = doc("Input vectors run.")
    reference_normalised: list[str] = doc(
        "What the reference's copy of the model normalised (empty: nothing).")
    bit_exact: bool = doc("True when every element of every output equals the reference's.")
    mismatches: int = doc("Output elements that differ, over all outputs.")
    mismatched_vectors: int = doc("Vectors with at least one differing element.")
    max_abs_diff: float = doc("Largest absolute difference (0 when bit-exact).")
    outputs: list[OutputComparison] = doc("Every model output's comparison, in order.")
    first_mismatch: Mismatch | None = doc("The first difference (absent when bit-exact).",
                                          omit_none=True, default=None)
    accuracy: float | None = doc("Top-1 accuracy of the C on the labels (with data that has y).",
                                 omit_none=True, default=None)
    reference_accuracy: float | None = doc("Top-1 accuracy of the reference on the labels.",
                                           omit_none=True, default=None)
    board: str | None = doc("The board" + _QEMU, omit_none=True, default=None)
    machine: str | None = doc("The QEMU machine" + _QEMU, omit_none=True, default=None)
    instructions_per_inference: int | None = doc(
        "Instructions per inference, most over the vectors" + _QEMU, omit_none=True, default=None)
    instructions_method: str | None = doc("How they were counted: exact or systick" + _QEMU,
                                          omit_none=True, default=None)
    layer_instructions: list[int] | None = doc("Instructions per layer" + _QEMU,
                                               omit_none=True, default=None)
    layers: list[LayerInstructions] | None = doc("Per-layer figures" + _QEMU,
                                                 omit_none=True, default=None)
    flash_bytes: int | None = doc("Flash of the whole image" + _QEMU, omit_none=True,
                                  default=None)
    model_flash_bytes: int | None = doc("Flash of the model's own objects" + _QEMU,
                                        omit_none=True, default=None)
    static_ram_bytes: int | None = doc(".data + .bss of the image" + _QEMU, omit_none=True,
                                       default=None)
    stack_bytes: int | None = doc("Stack high-water mark" + _QEMU, omit_none=True, default=None)


# --- check ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckItem(Result):
    """One figure against one limit."""

    name: Literal["flash", "ram", "latency"] = doc("What is checked.")
    measured: float = doc("The figure (bytes, or ms for latency).")
    limit: float = doc("The limit (bytes, or ms).")
    limit_source: Literal["board", "budget"] = doc("The board's capacity or a given budget.")
    unit: Literal["bytes", "ms"] = doc("Unit of measured and limit.")
    over: bool = doc("measured > limit.")
    margin: float = doc("limit - measured (negative when over).")
    estimate: bool = doc("True when measured is an estimate (latency).")


@dataclass(frozen=True)
class LatencyBasis(Result):
    """What the latency estimate is computed from: instructions x CPI / clock."""

    instructions: int | None = doc("Instructions per inference (None: not run).")
    cpi: float = doc("The board's cycles-per-instruction assumption.")
    clock_hz: int = doc("The board's clock.")
    cpi_source: str = doc("Where the CPI assumption comes from.")


@dataclass(frozen=True)
class CheckResult(Result):
    """Does the compiled model fit the board and the budgets?"""

    board: str = doc("The board checked against.")
    ok: bool = doc("True when nothing is over and the image could be linked.")
    checks: list[CheckItem] = doc("Each figure against each limit.")
    latency_ms_estimate: float | None = doc("Estimated ms per inference (None: not run).")
    latency_basis: LatencyBasis = doc("The basis of the latency estimate.")
    measured_now: bool = doc("True when check ran QEMU because nothing was recorded.")
    measurement: dict[str, Any] = doc("The measurement used (manifest.json 'measurements').")
    source: str = doc("qemu, or compile-time when the image could not be linked.")
    link_error: str | None = doc("Why the image could not be linked for QEMU (else None).")
    notes: list[str] = doc("What the figures mean.")


# --- export ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportResult(Result):
    """The package `export` wrote."""

    format: Literal["cmake", "arduino", "zephyr", "platformio"] = doc("The package format.")
    dest: Path = doc("The package directory.")
    name: str = doc("The package's name.")
    files: list[str] = doc("Its files, relative to dest.")
    example_input: str = doc("The example's input file in the package.")
    zip: Path | None = doc("The zip archive of the package (None: not written).")
    notes: list[str] = doc("Remarks on the package.")


# --- compress, distill, qat -----------------------------------------------------------------------

@dataclass(frozen=True)
class CompressLayer(Result):
    """One kernel, as table 1 of the Deep Compression paper (biases excluded)."""

    name: str = doc("The Keras layer.")
    layer_type: str = doc("Its class, e.g. Conv2D.")
    weights: int = doc("Weights of the input model's kernel.")
    kept: float = doc("Fraction of weights left after pruning.")
    weight_bits: int = doc("Bits per stored weight: 32 (float) or the cluster index width.")
    index_bits: int = doc("Relative index width (0 when stored dense).")
    bytes_before: int = doc("float32 dense.")
    bytes_pruned: int = doc("float32 values + relative indices.")
    bytes_clustered: int = doc("Cluster indices + relative indices + codebook.")
    bytes_huffman: int = doc("Both streams Huffman coded + code tables + codebook.")
    bytes_after: int = doc("The smallest encoding the enabled stages allow.")
    ratio: float = doc("bytes_before / bytes_after.")


@dataclass(frozen=True)
class StructuredLayer(Result):
    """Filters removed from one layer."""

    name: str = doc("The layer.")
    layer_type: str = doc("Its class.")
    filters_before: int = doc("Filters (units) before.")
    filters_after: int = doc("Filters (units) after.")
    removed: list[int] = doc("Indices of the removed filters.")
    path: list[str] = doc("The layers between it and its consumer.")
    consumer: str = doc("The layer whose inputs shrank with it.")


@dataclass(frozen=True)
class StructuredSummary(Result):
    """The structured-pruning stage (--remove-filters)."""

    params_before: int = doc("Parameters before.")
    params_after: int = doc("Parameters after.")
    layers: list[StructuredLayer] = doc("Per layer.")
    skipped: dict[str, str] = doc("Layers left whole -> why.")


@dataclass(frozen=True)
class QatSummary(Result):
    """Simulated INT8 metrics before and after quantization-aware training."""

    metric: Literal["accuracy", "mse"] = doc("The metric.")
    float_accuracy: float = doc("The float model before QAT.")
    ptq_accuracy: float = doc("Simulated INT8 post-training (calibrated, not trained).")
    qat_accuracy: float = doc("Simulated INT8 after QAT.")


@dataclass(frozen=True)
class DeployedLayer(Result):
    """One layer as compile places it (the cost model's bytes and instructions)."""

    name: str = doc("The layer.")
    op: str = doc("The TFLite operator.")
    weight_format: str = doc("The storage compile chooses for it.")
    bytes: int = doc("Its parameters' bytes in flash.")
    instructions_estimate: int | None = doc("Estimated instructions per inference (None: no "
                                            "model for its kernel).")


@dataclass(frozen=True)
class Deployed(Result):
    """What 'compile OUT --calibration DATA [--board B]' places without other flags (the
    format and scales it recognises from the marker), or why it would refuse the model."""

    bytes: int | None = doc("Parameter bytes in flash.", omit_none=True, default=None)
    instructions_estimate: int | None = doc("Estimated instructions per inference (None: some "
                                            "layer has no model).", default=None)
    weights: str | None = doc("The --weights compile recognises.", omit_none=True, default=None)
    per_channel_weights: bool | None = doc("The weight scales compile recognises (False: per "
                                           "tensor).", omit_none=True, default=None)
    board: str | None = doc("The board costed (None: portable C).", default=None)
    layers: list[DeployedLayer] = doc("Per layer with parameters.", default_factory=list)
    error: str | None = doc("Why compile would refuse the model (then no other figures).",
                            omit_none=True, default=None)


@dataclass(frozen=True)
class CompressResult(Result):
    """Deep Compression: pruning, weight sharing and Huffman accounting of a Keras model."""

    output: Path = doc("The saved compressed model (.keras).")
    metric: Literal["accuracy", "mse"] = doc("The metric of the accuracy_* fields.")
    accuracy_before: float = doc("Metric on the held-out data before compression.")
    accuracy_after: float = doc("Metric after every stage.")
    accuracy_after_prune: float | None = doc("Metric after pruning (None: no pruning).")
    params: int = doc("Kernel weights of the input model.")
    nonzero_params: int = doc("Kernel weights left non-zero.")
    bytes_before: int = doc("Kernel bytes, float32 dense.")
    bytes_after: int = doc("Kernel bytes after compression.")
    ratio: float = doc("bytes_before / bytes_after.")
    layers: list[CompressLayer] = doc("Per kernel.")
    structured: StructuredSummary | None = doc("The structured stage (None: not run).")
    qat: QatSummary | None = doc("The QAT stage (None: not run).")
    other_bytes: int = doc("Biases, normalisation and other parameters: float32, not compressed.")
    deployed: Deployed = doc("What compile places without flags (tinycompress.cost).")
    table: str = doc("The human-readable table (Python only, not in the JSON).", json=False,
                     default="")


@dataclass(frozen=True)
class DistillResult(Result):
    """Knowledge distillation of a teacher into a student."""

    output: Path = doc("The saved distilled student (.keras).")
    teacher_accuracy: float = doc("The teacher's held-out accuracy.")
    student_alone_accuracy: float | None = doc("The student trained on the labels alone.")
    distilled_accuracy: float = doc("The distilled student's held-out accuracy.")
    teacher_params: int = doc("Teacher parameters.")
    student_params: int = doc("Student parameters.")
    teacher_logits: str = doc("How the teacher's logits were found.")
    test_samples: int = doc("Held-out samples.")
    temperature: float = doc("Softmax temperature of the soft targets.")
    alpha: float = doc("Weight of the soft-target term.")
    epochs: float = doc("Training epochs.")
    hints: list[str] = doc("TEACHER_LAYER=STUDENT_LAYER hints (FitNets).")


@dataclass(frozen=True)
class QatLayer(Result):
    """One simulated layer's calibrated quantisation."""

    name: str = doc("The layer.")
    kind: str = doc("dense, conv or depthwise.")
    activation: str | None = doc("Its fused activation.")
    input_scale: float = doc("Input scale.")
    input_zero_point: int = doc("Input zero point.")
    output_scale: float = doc("Output scale.")
    output_zero_point: int = doc("Output zero point.")


@dataclass(frozen=True)
class QatResult(Result):
    """Quantization-aware training of a Keras model through simulated int8 arithmetic."""

    output: Path = doc("The saved model (.keras, plain layers).")
    metric: Literal["accuracy", "mse"] = doc("The metric of the *_accuracy fields.")
    float_accuracy: float = doc("The float model before QAT.")
    ptq_accuracy: float = doc("Simulated INT8 post-training (calibrated, not trained).")
    qat_accuracy: float = doc("Simulated INT8 after QAT.")
    layers: list[QatLayer] = doc("Per simulated layer.")
    test_samples: int = doc("Held-out samples.")
    calibration_samples: int = doc("Samples that calibrated the ranges.")
    per_channel: bool = doc("Per-channel weight scales simulated.")
    epochs: float = doc("Training epochs.")
    weight_bits: int = doc("Bits of the fake-quantised weights (8, or 4).")


# --- fit ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FitBudgets(Result):
    """The limits a fit result must meet (None: not constrained)."""

    max_flash: int | None = doc("Flash budget, bytes (the whole image, as check measures it).")
    max_ram: int | None = doc("RAM budget, bytes.")
    max_latency_ms: float | None = doc("Latency budget, ms (estimate).")
    max_drop: float | None = doc("Most accuracy lost on the held-out split, percentage points.")
    accuracy_margin: float | None = doc("Added to a held-out drop before it is compared with "
                                        "max_drop (None: one paired standard error).")


@dataclass(frozen=True)
class FitRange(Result):
    """One layer's search range, from the sensitivity analysis."""

    name: str = doc("The Keras layer.")
    kind: Literal["conv", "dense"] = doc("conv or dense.")
    weights: int = doc("Its kernel weights.")
    sparsity: list[float] = doc("Lowest and highest sparsity searched.")
    bits: list[int] | None = doc("Fewest and most shared-weight bits searched (None: fixed at 8).")


@dataclass(frozen=True)
class FitCandidate(Result):
    """What compress gets for one trial."""

    sparsity: dict[str, float] = doc("Layer -> fraction of its weights pruned.")
    bits: dict[str, int] = doc("Layer -> shared-weight bits.")
    distill: float = doc("Weight of the baseline's soft targets in the fine-tuning (0: labels only).")
    optimize: Literal["balanced", "size"] = doc(
        "The weight formats' goal: compile --weights auto --optimize (balanced: the fastest within 10% "
        "of the model's fewest bytes; size: the fewest bytes).", default="balanced")
    lr_scale: float = doc("The pruning fine-tuning's learning rate: this times the plan's prune_lr.",
                          default=1.0)


@dataclass(frozen=True)
class FitFigures(Result):
    """A trial's model as deployed for the board."""

    flash_bytes: int = doc("Flash of the whole image (check's figure).")
    ram_bytes: int = doc("RAM (static + stack).")
    latency_ms: float | None = doc("Estimated ms per inference (None: not run).")
    instructions: int | None = doc("Instructions per inference under QEMU (None: not run).")
    weights_bytes: int = doc("The compiler's parameter bytes.")
    source: str = doc("qemu, or compile-time when the image could not be linked.")


@dataclass(frozen=True)
class FitTrial(Result):
    """One trial of the study."""

    number: int = doc("The trial's number in the study.")
    state: str = doc("optuna's state: COMPLETE, PRUNED, FAIL, RUNNING, WAITING.")
    stage: Literal["probe", "full", "pruned"] | None = doc(
        "probe: over a budget untrained, not fine-tuned; full: fine-tuned and measured; pruned: "
        "stopped early (None: not started or failed).")
    candidate: FitCandidate | None = doc("Its settings (None: not sampled yet).")
    figures: FitFigures | None = doc("Its measured figures (None: not measured).")
    accuracy: float | None = doc("INT8 accuracy on the held-out split.")
    drop_pp: float | None = doc("Held-out accuracy drop from the baseline, percentage points.")
    drop_upper_pp: float | None = doc("drop_pp plus the margin: what max_drop is checked on.")
    excess: dict[str, float] = doc("Budget -> how far over it, relative to the limit (<= 0: met).")
    feasible: bool = doc("Fine-tuned, measured and within every budget.")
    seconds: float | None = doc("Its wall time.")
    worker: str | None = doc("host:pid of the process that ran it.")
    artifacts: str | None = doc("Its directory (model.tflite, model.keras, the C).")
    params: dict[str, Any] = doc("The sampler's parameters.")
    polish_of: int | None = doc("The trial whose candidate this one fine-tuned longer (None: sampled).")
    plan: dict[str, Any] | None = doc(
        "The fine-tuning it had (TrainPlan: epochs, learning rates, batch size, seed; a polish's is longer; "
        "None: not fine-tuned yet).")


@dataclass(frozen=True)
class FitTest(Result):
    """The result's generated C on TEST.npz."""

    data: str = doc("The test file.")
    vectors: int = doc("Test samples run by the portable C on the host.")
    bit_exact: bool = doc("Every output element equal to the reference interpreter's.")
    qemu_vectors: int | None = doc("Samples run by the board's C under QEMU (None: not run).")
    accuracy: float = doc("The C's top-1 accuracy.")
    baseline_accuracy: float = doc("The float baseline's, on the same samples.")
    drop_pp: float = doc("baseline_accuracy - accuracy, percentage points.")


@dataclass(frozen=True)
class FitResult(Result):
    """A search of compression settings that meet a board's budgets (tinycompress fit)."""

    study_name: str = doc("The optuna study.")
    storage: str | None = doc("Its storage (None: in memory).")
    board: str = doc("The board.")
    budgets: FitBudgets = doc("The budgets.")
    baseline_accuracy: float = doc("The float baseline's held-out accuracy.")
    feasible: bool = doc("Some trial meets every budget.")
    best: FitTrial | None = doc("The feasible trial with the least drop upper bound, else the "
                                "closest (None: nothing measured).")
    trials: list[FitTrial] = doc("Every trial of the study.")
    front: list[int] = doc("Numbers of the Pareto-front trials (drop, flash, latency).")
    ranges: list[FitRange] = doc("The per-layer search ranges.")
    outdir: Path | None = doc("The best trial's C for the board (None: not written).")
    keras_path: Path | None = doc("Its compressed Keras model.")
    json_path: Path | None = doc("fit.json.")
    check: CheckResult | None = doc("check of outdir against the budgets.")
    test: FitTest | None = doc("The C on TEST.npz (None: no --test).")
    seconds: float = doc("Wall time of this process.")
    notes: list[str] = doc("Remarks (workers that failed).")
    workers: list[str] = doc("The processes that ran trials (host:pid).")


# --- report ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportResult(Result):
    """The HTML report `report` wrote."""

    html: Path = doc("The HTML page (self-contained: viewable offline).")
    figures: list[str] = doc("The plots on the page, in page order.")
    pngs: list[Path] = doc("The PNG files written (empty without --png).")


RESULTS = {_schema_name(c): c for c in (CompileResult, VerifyResult, CheckResult, ExportResult,
                                        ReportResult,
                                        CompressResult, DistillResult, QatResult, FitResult)}


def json_schema(name: str) -> dict:
    """The JSON Schema of the result of command `name` (a key of RESULTS)."""
    return RESULTS[name].schema()


def schema_text(name: str) -> str:
    """The schema as committed: indented JSON, sorted keys, a final newline."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """`python -m tinycompress.results --schema [DIR]`: print every schema, or write DIR/NAME.json."""
    if not argv or argv[0] != "--schema" or len(argv) > 2:
        print("usage: python -m tinycompress.results --schema [DIR]", file=sys.stderr)
        return 2
    if len(argv) == 1:
        print(json.dumps({n: json_schema(n) for n in RESULTS}, indent=2, sort_keys=True))
        return 0
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in RESULTS:
        (out / f"{name}.json").write_text(schema_text(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
