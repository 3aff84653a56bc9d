"""Deployed bytes and instructions of a model, per layer and weight format, without emitting C.

    estimate(model, board="mps2-an386")            # a .keras/.tflite path, or INT8 TFLite bytes
    estimate_graph(graph, context_for(board, "auto"))

Every layer is lowered as `compile` lowers it (the same variant tables, encoders and auto rule;
ops/cost.py), for each weight format asked for, so its bytes are the constants `compile` places
(constants identical to an earlier layer's counted once, as the emitter stores them once) and its
instructions the cost model's estimate for the board's core. `compress` reports these bytes, and
a search over compression settings can rank candidates by them.

This module sits above ops and the frontends (the compiler's level): the compression passes
never import it; the commands do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .ops._weight_formats import FORMATS
from .ops.base import Context, Kernel


@dataclass
class Option:
    """One layer in one weight format."""

    weight_format: str  # what was stored (a compressed format the layer cannot take: dense)
    variant: str
    bytes: int
    instructions: int | None
    work: dict | None = None  # the counts the estimate is made of (ops/cost.py Work)


@dataclass
class LayerEstimate:
    index: int  # the op's position in the graph
    name: str
    op: str
    options: dict[str, Option] = field(default_factory=dict)  # by the --weights asked for


@dataclass
class Estimate:
    core: str
    families: tuple[str, ...]
    layers: list[LayerEstimate]

    def total(self, weights: str) -> tuple[int, int]:
        """(bytes, instructions) of the model with every layer in `weights`: all its bytes, the
        instructions of the layers the cost model covers (those with weights)."""
        opts = [layer.options[weights] for layer in self.layers]
        return (sum(o.bytes for o in opts),
                sum(o.instructions for o in opts if o.instructions is not None))

    def to_dict(self) -> dict:
        asked = list(self.layers[0].options) if self.layers else []
        return {"core": self.core, "families": list(self.families),
                "totals": {w: dict(zip(("bytes", "instructions"), self.total(w))) for w in asked},
                "layers": [{"index": la.index, "name": la.name, "op": la.op,
                            "options": {w: vars(o) for w, o in la.options.items()}}
                           for la in self.layers]}


def _kernels(g, ctx: Context) -> list[Kernel]:
    """Every op's kernel in ctx.weights; int4 for a layer whose weights lie beyond -8..7 (which
    compile refuses) is costed dense, as a format a layer cannot take falls back to dense; with
    auto, the layers' formats chosen together, as compile chooses them."""
    from .emit import _lower, lower_all
    from .errors import UserError

    if ctx.weights == "auto":
        return lower_all(g, ctx)

    def lower(op):
        try:
            return _lower(op, g, ctx)
        except UserError:
            if ctx.weights != "int4":
                raise
            return _lower(op, g, replace(ctx, weights="dense"))

    return [lower(op) for op in g.ops]


def estimate_graph(g, ctx: Context, formats: tuple[str, ...] = FORMATS + ("auto",)) -> Estimate:
    """Per layer of the (passes-run) graph `g`, an Option for every format of `formats`
    (dense, lut, sparse, huffman, int4, csr, hcsr, hcsr+raw, auto) on ctx's core (ctx.optimize ranks auto)."""
    from .emit import check_supported

    check_supported(g)
    layers = [LayerEstimate(i, op.name, op.kind) for i, op in enumerate(g.ops)]
    for fmt in formats:
        stored: set[tuple] = set()
        for i, k in enumerate(_kernels(g, replace(ctx, weights=fmt))):
            own = 0
            for c in k.consts:
                key = (c.ctype, c.values.dtype.str, c.values.size, c.values.tobytes())
                if key not in stored:
                    stored.add(key)
                    own += c.nbytes
            work = vars(k.work) if k.work is not None else None
            layers[i].options[fmt] = Option(k.weight_format, k.variant, own, k.instructions, work)
    return Estimate(ctx.core, ctx.families, layers)


def estimate(model, board: str | None = None, formats: tuple[str, ...] = FORMATS + ("auto",),
             optimize: str = "balanced", calibration=None, per_channel: bool = True) -> Estimate:
    """estimate_graph for a model: INT8 TFLite bytes, a model file or an in-memory Keras model (a
    float model is quantised with `calibration`, an array of float inputs, as `compile
    --calibration` does; `per_channel` False: per-tensor weight scales)."""
    import tempfile

    from . import passes
    from .compiler import context_for
    from .frontends import load_tflite_bytes
    from .frontends.tflite import read_tflite

    source = "model"
    if hasattr(model, "save") and not isinstance(model, (str, Path)):  # a Keras model
        with tempfile.TemporaryDirectory(prefix="tc-estimate-") as tmp:
            model.save(Path(tmp) / "model.keras")
            model = load_tflite_bytes(Path(tmp) / "model.keras", calibration,
                                      per_channel=per_channel)
    elif not isinstance(model, (bytes, bytearray)):
        source = Path(model).name
        model = load_tflite_bytes(Path(model), calibration, per_channel=per_channel)
    ctx = replace(context_for(board, "dense"), optimize=optimize)
    return estimate_graph(passes.run(read_tflite(bytes(model), source)), ctx, formats)


def deployed(path: Path, x, board: str | None, optimize: str = "balanced") -> dict:
    """What 'compile PATH --calibration DATA [--board B]' (no other flags) places in flash: the
    bytes and instructions of the format and scales compile recognises from the model's marker
    (the fields of results.Deployed)."""
    from .compiler import context_for, recognise

    weights, per_channel, _ = recognise(path, None, None)
    context_for(board, weights, optimize)
    est = estimate(path, board, (weights,), optimize, calibration=x, per_channel=per_channel)
    layers = [{"name": la.name, "op": la.op, "weight_format": la.options[weights].weight_format,
               "bytes": la.options[weights].bytes,
               "instructions_estimate": la.options[weights].instructions}
              for la in est.layers if la.options[weights].bytes]
    total, instr = est.total(weights)
    return {"bytes": total, "instructions_estimate": instr, "weights": weights,
            "per_channel_weights": per_channel, "board": board, "layers": layers}
