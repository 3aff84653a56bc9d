"""The kernel ABI between the IR and the emitter.

Every supported operator has a `Lowering` registered under its IR kind. `check` validates an op
once, before anything is written, returning every problem it finds. `lower` turns a checked op
into a `Kernel`: the template that renders its C function, the values baked into that template,
the constant arrays it reads from flash, the scratch it needs from the arena and its MAC count.

The generated function has the signature
    static void <fn>(const T0 *restrict in0, ..., U0 *restrict out0, ...,
                     V0 *restrict state0, ... [, S *restrict scratch])
with one pointer per activation input/output of the op (constants are referenced by name) and one
per variable (state) tensor it reads and updates in place, so the planner alone decides where
activations and state live. A kernel that can write an output over an input says so in
`inplace` (planner.Alias: which output over which input, and the extra scratch it then needs);
the indices count the op's activation inputs in the op's order, which must be `act_inputs`. When
the planner takes the alias, the emitter sets the kernel's `inplace` parameter (and `ring_at`,
the byte offset of the extra scratch) and drops `restrict` from the two pointers, which then
point into the same buffer: the template must then read every input element before it writes
an output element over it. The scratch's element type S is the kernel's `scratch_ctype`
(int8_t, int32_t, int16_t or uint16_t): the planner keeps it in the arena part of that type, so
the kernel accesses it as S (or as int8_t, a character type) and never casts it to another
multi-byte type (C's aliasing rule). A per-core or compressed-weight variant of a kernel is
a different template chosen by `lower` (see `template_for`), not a change to this ABI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from ..ir import Graph, Op, Tensor
from ..planner import Alias


@dataclass
class ConstArray:
    """A constant array placed in flash. `name` is a suffix; the emitter prefixes it."""

    name: str
    ctype: str
    values: np.ndarray
    comment: str = ""

    @property
    def nbytes(self) -> int:
        return int(self.values.size * self.values.dtype.itemsize)


@dataclass
class Kernel:
    template: str
    params: dict[str, Any]
    consts: list[ConstArray] = field(default_factory=list)
    act_inputs: list[str] = field(default_factory=list)  # tensor names, in signature order
    act_outputs: list[str] = field(default_factory=list)
    act_states: list[str] = field(default_factory=list)  # variable tensors, read and written
    scratch_bytes: int = 0
    scratch_ctype: str = "int8_t"  # the scratch's element type, see the module docstring
    macs: int = 0
    weight_format: str = "dense"
    # Bytes of the consts had the weights been stored dense (None: the same as now).
    dense_weights_bytes: int | None = None
    variant: str = ""  # the name of the Variant that built it, when the op has a variant table
    instructions: int | None = None  # the cost model's estimate per inference (ops/cost.py)
    work: Any = None  # what that estimate counts (ops/cost.py Work), None without a model
    inplace: tuple[Alias, ...] = ()  # outputs it may write over inputs, see the docstring
    # A fused layer's pieces (ops/residual_rows.py): kernels rendered as functions of their own,
    # which its template calls by the names the emitter gives it in `part_fns`.
    parts: list["Kernel"] = field(default_factory=list)


def memory_needs(kernels: dict[int, Kernel]) -> tuple[dict[int, int], dict[int, str],
                                                     dict[int, tuple[Alias, ...]]]:
    """What the planner needs of the kernels by op position: their scratch bytes, scratch
    element types and aliases (planner.plan's, schedule.best_order's arguments)."""
    return ({pos: k.scratch_bytes for pos, k in kernels.items()},
            {pos: k.scratch_ctype for pos, k in kernels.items()},
            {pos: k.inplace for pos, k in kernels.items() if k.inplace})


@dataclass
class Context:
    """What a lowering may know about the target.

    `families` lists the kernel families the core can run, most specific first (e.g.
    ("mve", "dsp") on a Cortex-M55); the emitter looks up each template in
    templates/cores/<family>/ in that order before the portable templates/ version."""

    core: str = "generic"
    families: tuple[str, ...] = ()
    weights: str = "dense"  # auto|dense|lut|sparse|huffman|int4|csr|hcsr|hcsr+raw, see _weight_formats.py
    # what --weights auto ranks by (ops/cost.py) and the DSP kernels' int16-weight choice
    # (_dsp.wants_w16): balanced|size|speed
    optimize: str = "balanced"


def kernel_families(core: str, dsp: bool = False, mve: str = "none") -> tuple[str, ...]:
    """The kernel families a core runs, most specific first."""
    families: list[str] = []
    if mve and mve != "none":
        families.append("mve")
    if dsp:
        families.append("dsp")
    return tuple(families)


class Lowering:
    kind: ClassVar[str]

    def check(self, op: Op, g: Graph) -> list[str]:
        return []

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        raise NotImplementedError

    def options(self, op: Op, g: Graph, ctx: Context) -> list:
        """The kernels `--weights auto` chooses among for the layer (ops/cost.py Candidates):
        here the one kernel `lower` builds (an op without weight formats)."""
        return [candidate(self.lower(op, g, ctx))]


def _always(layer: Any, ctx: Context) -> bool:
    return True


@dataclass(frozen=True)
class Variant:
    """One kernel of an operator, as data: which cores run it (`needs`: kernel families the core
    must have, all of them), when it applies to a layer (`when`), and how its Kernel is built
    (`build`: weight layout, constants, scratch; the template is `template`, which a core's
    templates/cores/<family>/ may override by name). A new core, kernel or weight format is one
    entry in an operator's `variants`. `cost(layer, ctx, kernel)` gives the work the built kernel
    does (ops/cost.py `Work`), which the cost model turns into instructions for the core; a
    variant without it has no estimate."""

    name: str
    template: str
    build: Callable[[Any, Context], Kernel]
    needs: tuple[str, ...] = ()
    when: Callable[[Any, Context], bool] = _always
    cost: Callable[[Any, Context, Kernel], Any] | None = None


class VariantLowering(Lowering):
    """A Lowering whose kernels are a table of Variants, most specific first: `prepare` derives
    what every variant needs from the op once (shapes, quantisation, encoded weights), and the
    first variant whose families the core has and whose `when` holds builds the kernel. With
    `--weights auto` the layer is built once per weight format (`options`) and ops/cost.py
    `choose_model` picks one a layer by bytes and estimated instructions (`ctx.optimize`)."""

    variants: ClassVar[tuple[Variant, ...]]

    def prepare(self, op: Op, g: Graph, ctx: Context) -> Any:
        raise NotImplementedError

    def select(self, layer: Any, ctx: Context) -> Variant:
        for v in self.variants:
            if all(f in ctx.families for f in v.needs) and v.when(layer, ctx):
                return v
        raise LookupError(f"{self.kind}: no kernel variant applies (the last must always)")

    def build(self, op: Op, g: Graph, ctx: Context, variant_name: str = "") -> Kernel:
        """The kernel of the layer in ctx.weights (not auto), with its instruction estimate;
        `variant_name` names the variant to build instead of the one `select` picks (a piece of
        a layer that must run the whole layer's kernel, ops/residual_rows.py)."""
        from .cost import cost_key, instructions

        layer = self.prepare(op, g, ctx)
        variant = (self.select(layer, ctx) if not variant_name
                   else next(v for v in self.variants if v.name == variant_name))
        kernel = variant.build(layer, ctx)
        kernel.template = variant.template
        kernel.variant = variant.name
        if variant.cost is not None:
            kernel.work = variant.cost(layer, ctx, kernel)
            kernel.instructions = instructions(
                self.kind, cost_key(variant.name, kernel.weight_format), ctx.families,
                kernel.work)
        return kernel

    def candidates(self, op: Op, g: Graph, ctx: Context) -> list[Kernel]:
        """The layer's kernel in every weight format (a format the layer cannot take falls back
        to dense, csr and hcsr outside FULLY_CONNECTED to sparse: kept once; int4 for weights
        beyond -8..7 is left out)."""
        from dataclasses import replace

        from ..errors import UserError
        from ._weight_formats import FORMATS

        kernels: dict[str, Kernel] = {}
        for fmt in FORMATS:
            try:
                k = self.build(op, g, replace(ctx, weights=fmt))
            except UserError:
                if fmt == "int4":  # encode refuses int4 for weights beyond -8..7
                    continue
                raise
            kernels.setdefault(k.weight_format, k)
        return list(kernels.values())

    def options(self, op: Op, g: Graph, ctx: Context) -> list:
        """With auto, the layer's kernel in every format (`candidates`), else the one kernel."""
        if ctx.weights != "auto":
            return [candidate(self.build(op, g, ctx))]
        return [candidate(k) for k in self.candidates(op, g, ctx)]

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        """The layer's kernel; with auto, the one `choose` picks for this layer alone (a whole
        model's layers are chosen together: emit `lower_all`)."""
        if ctx.weights != "auto":
            return self.build(op, g, ctx)
        from .cost import choose

        return choose(self.options(op, g, ctx), ctx.optimize).item


def candidate(k: Kernel):
    """A kernel as what ops/cost.py `choose` ranks: its bytes and estimated instructions."""
    from .cost import Candidate

    return Candidate(k.weight_format, sum(c.nbytes for c in k.consts), k.instructions, k)


REGISTRY: dict[str, Lowering] = {}


def register(cls):
    REGISTRY[cls.kind] = cls()
    return cls


# --- helpers shared by lowerings -------------------------------------------------------------

def need_int8(op: Op, g: Graph, names: list[str], what: str = "int8") -> list[str]:
    problems = []
    for n in names:
        if not n:
            continue
        t = g.tensors[n]
        if t.dtype != "int8":
            problems.append(f"{op.describe()}: tensor '{n}' is {t.dtype}, expected {what}")
        elif t.quant is None:
            problems.append(f"{op.describe()}: tensor '{n}' has no quantisation parameters")
    return problems


def need_quantised(op: Op, g: Graph, names: list[str], dtypes: tuple[str, ...]) -> list[str]:
    """Every tensor of `names` quantised and of one dtype: the first one's, which must be one of
    `dtypes` (with ("int8",), need_int8's problems)."""
    first = g.tensors[names[0]].dtype
    want = first if first in dtypes else " or ".join(dtypes)
    problems = []
    for n in names:
        t = g.tensors[n]
        if t.dtype != want:
            problems.append(f"{op.describe()}: tensor '{n}' is {t.dtype}, expected {want}")
        elif t.quant is None:
            problems.append(f"{op.describe()}: tensor '{n}' has no quantisation parameters")
    return problems


def per_tensor(op: Op, t: Tensor) -> list[str]:
    if t.quant is not None and t.quant.per_channel:
        return [f"{op.describe()}: tensor '{t.name}' is quantised per channel; per-tensor expected"]
    return []


def check_unary(op: Op, g: Graph, tensor_problems: Callable[[Tensor, Tensor], list[str]],
                allow_const: bool = True, const_note: str = "") -> list[str]:
    """The checks of an op that maps one tensor onto another of as many elements: one input and
    one output, then `tensor_problems(x, y)` (their types and quantisation), then, unless
    `allow_const`, a constant input (`const_note` follows its name in the refusal), then the
    element counts."""
    if len(op.inputs) != 1 or len(op.outputs) != 1 or not op.inputs[0]:
        return [f"{op.describe()}: expected one input and one output"]
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    problems = tensor_problems(x, y)
    if not allow_const and x.is_const:
        problems.append(f"{op.describe()}: constant input '{x.name}'{const_note} is not supported")
    if x.size != y.size:
        problems.append(f"{op.describe()}: input has {x.size} elements, output {y.size}")
    return problems


def table_kernel(op: Op, g: Graph, template: str, table: ConstArray,
                 inplace: bool = False) -> Kernel:
    """The kernel of a unary op (see check_unary) computed by looking up one constant table;
    `inplace`: the template reads element i before it writes element i, of the same width, so
    the output may be written over the input."""
    return Kernel(
        template=template,
        params=dict(size=g.tensors[op.inputs[0]].size),
        consts=[table],
        act_inputs=[op.inputs[0]],
        act_outputs=[op.outputs[0]],
        inplace=(Alias(0, 0),) if inplace else (),
    )


def activation_of(op: Op) -> str:
    return op.options.get("fused_activation_function", "NONE") or "NONE"


SUPPORTED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def check_activation(op: Op) -> list[str]:
    act = activation_of(op)
    if act not in SUPPORTED_ACTIVATIONS:
        return [f"{op.describe()}: fused activation {act} is not supported"]
    return []
