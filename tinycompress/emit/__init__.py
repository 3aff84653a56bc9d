"""The emitter: IR + memory plan + lowered kernels -> C99 source text, through Jinja2 templates.

The library returns the text of every file (a dict name -> str); writing them is the caller's job.
Nothing here depends on time or on dict ordering of the machine: the same graph gives the same
bytes."""

from __future__ import annotations

import functools
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__
from ..errors import OpCompileError, UnsupportedModelError, UserError
from ..ir import Graph, IRError
from ..ops import OPERATORS, REGISTRY, Context, Kernel
from ..ops.base import memory_needs
from ..ops.cost import choose_model
from ..ops.table import Refused
from ..planner import CHAR_CTYPES, PARTS, Plan, part_of, plan
from ..fusion import fuse_for_memory
from ..schedule import best_order, reordered
from .records import memory_plan, weight_stats

C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "_Bool", "_Complex", "_Imaginary",
    "main", "errno", "assert",
}


def validate_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", name or ""):
        raise UserError(f"--name '{name}' is not a C identifier: use letters, digits and _ "
                        "(at most 32, not starting with a digit)")
    if name in C_KEYWORDS:
        raise UserError(f"--name '{name}' is a C keyword or reserved name: choose another prefix")
    if name.lower().startswith("tc_"):
        raise UserError(f"--name '{name}': the prefix tc_ is reserved for the runtime")
    return name


def templates_dir() -> Path:
    return Path(str(resources.files("tinycompress._templates")))


@functools.lru_cache(maxsize=None)
def _environment(families: tuple[str, ...] = ()) -> jinja2.Environment:
    """Templates are looked up per kernel family first (templates/cores/<family>/), then in the
    portable set: a per-core kernel overrides a template of the same name, nothing else. One
    environment per family list, so each template is compiled once per process (Jinja2 still
    reloads a template whose file changed)."""
    root = templates_dir()
    search = [str(root / "cores" / f) for f in families if (root / "cores" / f).is_dir()]
    search.append(str(root))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["c_array"] = c_array
    return env


def c_array(values: np.ndarray, per_line: int = 16, indent: str = "    ") -> str:
    """Every value of an integer array as C literals, a fixed number per line (never elided)."""
    flat = np.asarray(values).reshape(-1)
    if flat.dtype.kind not in "iub":
        raise TypeError(f"c_array takes integers, got {flat.dtype}")
    items = [str(int(v)) for v in flat.tolist()]
    if flat.dtype == np.int32:
        items = [("(-2147483647 - 1)" if v == "-2147483648" else v) for v in items]
    if flat.dtype == np.int64:
        items = [f"INT64_C({v})" for v in items]
    lines = [indent + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)]
    return "\n".join(lines)


def comment_safe(text: str) -> str:
    """Text that can stand inside a C block comment on one line."""
    return re.sub(r"[^\x20-\x7e]", "?", text).replace("*/", "*_/").replace("/*", "/_*")


@dataclass
class Layer:
    index: int  # position among emitted (non-elided) layers
    op_pos: int  # position in graph.ops
    fn: str
    kind: str
    name: str
    kernel: Kernel
    const_names: dict[str, str]
    args: list[str] = field(default_factory=list)
    parts: list["Part"] = field(default_factory=list)  # a fused layer's pieces (Kernel.parts)


@dataclass
class Part:
    """A piece of a fused layer: a function of its own, which the layer's function calls."""

    fn: str
    kernel: Kernel
    const_names: dict[str, str]


@dataclass
class EmitResult:
    files: dict[str, str]
    manifest: dict
    plan: Plan


@contextmanager
def op_boundary(op):
    """Around an op's check, lowering and rendering: anything but a refusal (a UserError) that
    escapes them, IRError included, means the model is one the op's check should have refused
    (or a bug); it becomes an OpCompileError naming the op, the exception chained for --debug."""
    try:
        yield
    except UserError:
        raise
    except Exception as e:
        raise OpCompileError(op.describe(), e) from e


def check_supported(g: Graph) -> None:
    """Refuse the model before anything is written, naming every unsupported op and layer (an
    unsupported operator once, with how many layers use it and the first of them)."""
    problems: list[str] = []
    missing: dict[str, list] = {}
    for op in g.ops:
        lowering = REGISTRY.get(op.kind)
        if lowering is None:
            missing.setdefault(op.kind, []).append(op)
        else:
            with op_boundary(op):
                problems.extend(lowering.check(op, g))
    unsupported = []
    for kind, ops in missing.items():
        entry = OPERATORS.get(kind)
        why = f": {entry.why}" if isinstance(entry, Refused) else ""
        more = f", and {len(ops) - 1} more" if len(ops) > 1 else ""
        unsupported.append(f"operator {kind} is not supported "
                           f"({ops[0].describe()[len(kind) + 2:-1]}{more}){why}")
    problems = unsupported + problems
    if not g.inputs:
        problems.append("the model has no graph input (it computes constants): tinycompress "
                        "compiles models of at least one input")
    if problems:
        raise UnsupportedModelError(problems)


def _lower(op, g: Graph, ctx: Context) -> Kernel:
    """The op's kernel (with auto, chosen for this layer alone), its template one the operator
    table declares for it."""
    with op_boundary(op):
        kernel = REGISTRY[op.kind].lower(op, g, ctx)
    return _declared(op, kernel)


def _declared(op, kernel: Kernel) -> Kernel:
    declared = OPERATORS[op.kind].templates
    if kernel.template not in declared:
        raise IRError(f"{op.describe()}: template {kernel.template} is not declared for "
                      f"{op.kind} in ops/table.py ({', '.join(declared)})")
    return kernel


def lower_all(g: Graph, ctx: Context) -> list[Kernel]:
    """Every op's kernel, in order; with auto, the layers' formats chosen together
    (ops/cost.py `choose_model`: balanced bounds the whole model's bytes)."""
    if ctx.weights != "auto":
        return [_lower(op, g, ctx) for op in g.ops]
    options = []
    for op in g.ops:
        with op_boundary(op):
            options.append(REGISTRY[op.kind].options(op, g, ctx))
    picks = choose_model(options, ctx.optimize)
    return [_declared(op, c.item) for op, c in zip(g.ops, picks)]


def check_activations(g: Graph, kernels: dict[int, Kernel]) -> None:
    """Refuse a kernel that reads a constant as an activation (a constant where the op's kernel
    takes a computed tensor, e.g. FULLY_CONNECTED's input): constants live in flash, not in the
    planned memory the kernel's pointer would come from."""
    problems = [f"{g.ops[pos].describe()}: constant input '{t}' is not supported (the kernel "
                "reads it as an activation)"
                for pos, k in kernels.items() for t in k.act_inputs + k.act_states
                if g.tensors[t].is_const]
    if problems:
        raise UnsupportedModelError(problems)


_PART_TYPES = {part: (ctype, size) for part, ctype, size in PARTS}


def part_pointer(base: str, ctype: str, offset: int) -> str:
    """The C expression of a `ctype` pointer `offset` bytes into the part of `base` (the arena
    or state struct's member prefix, e.g. "ARENA->") that holds `ctype`: the part's own element
    pointer, or, for a character type, the part's pointer converted to it (always allowed)."""
    part = part_of(ctype)
    pctype, size = _PART_TYPES[part]
    if ctype == pctype:
        return f"({base}{part} + {offset // size})" if offset else f"{base}{part}"
    if ctype not in CHAR_CTYPES:
        raise IRError(f"{ctype} data cannot live in the {pctype} part of the arena")
    # (&part[0], not the array itself: gcc's -Wmemset-elt-size reads a memset of the array's
    # element count in bytes as a mistake)
    return f"(({ctype} *){base}{part} + {offset})" if offset else f"({ctype} *)&{base}{part}[0]"


def part_decls(parts: dict[str, int]) -> list[dict]:
    """The members of an arena or state struct: one array per nonempty part."""
    return [dict(part=part, ctype=_PART_TYPES[part][0], count=nbytes // _PART_TYPES[part][1],
                 bytes=nbytes) for part, nbytes in parts.items()]


def _buffer_expr(g: Graph, p: Plan, name: str, io_names: dict) -> str:
    kind, where = p.storage[name]
    t = g.tensors[name]
    if kind in ("input", "output"):
        return io_names[(kind, where)]
    return part_pointer("state." if kind == "state" else "ARENA->", t.ctype, where)


def _state_resets(g: Graph, p: Plan) -> list[dict]:
    """The variable tensors whose reset value is not zero: TFLite's ResetVariableTensor sets an
    int8 variable tensor to its zero point (every other type to zero)."""
    resets = []
    for name in g.state_tensors():
        t = g.tensors[name]
        if t.dtype == "int8" and t.quant is not None and t.quant.zero_point[0] != 0:
            resets.append(dict(name=comment_safe(name),
                               ptr=part_pointer("state.", t.ctype, p.storage[name][1]),
                               bytes=t.nbytes, value=int(t.quant.zero_point[0])))
    return resets


def order_for_memory(g: Graph, kernels: dict[int, Kernel]) -> tuple[Graph, dict[int, Kernel]]:
    """The graph with its ops in the order that plans the smaller arena (schedule.best_order),
    and the kernels by their ops' new positions."""
    order = best_order(g, *memory_needs(kernels))
    if order == list(range(len(g.ops))):
        return g, kernels
    return reordered(g, order), {new: kernels[old] for new, old in enumerate(order)}


def apply_inplace(g: Graph, kernels: dict[int, Kernel], mem: Plan) -> None:
    """Tell each kernel whose output the planner placed over an input (Plan.inplace) so: its
    template's `inplace` and `ring_at` (where its extra scratch starts), its scratch grown by
    the extra, and the aliased pointers' indices (the signature drops their `restrict`)."""
    for pos, k in kernels.items():
        k.params.setdefault("inplace", False)
        k.params.setdefault("ring_at", 0)
        k.params["_alias_in"], k.params["_alias_out"] = -1, -1
        a = mem.inplace.get(pos)
        if a is None:
            continue
        acts = [t for t in g.ops[pos].inputs
                if t and not g.tensors[t].is_const and not g.tensors[t].variable]
        if acts != k.act_inputs:
            raise IRError(f"{g.ops[pos].describe()}: an in-place kernel's activation inputs "
                          "must be the op's, in order")
        k.params.update(inplace=True, ring_at=mem.scratch_bytes.get(pos, 0) - a.extra_scratch,
                        _alias_in=a.inp, _alias_out=a.out)
        k.scratch_bytes = mem.scratch_bytes.get(pos, k.scratch_bytes)


class _Consts:
    """The model's constant arrays in emission order. Identical arrays (an unrolled recurrent
    layer's weights at every step, shared requantisation tables) are stored once; later layers
    refer to the first one's name, and its bytes count for the layer that stored it."""

    def __init__(self) -> None:
        self.arrays: list[tuple] = []        # (C name, Const, layer index, op kind, op name)
        self.own_bytes: dict[int, int] = {}  # per layer index
        self._stored: dict[tuple, str] = {}

    def names(self, kern: Kernel, prefix: str, idx: int, op) -> dict[str, str]:
        """The C name of each of ``kern``'s constants, storing the ones not seen before."""
        self.own_bytes.setdefault(idx, 0)
        cnames = {}
        for c in kern.consts:
            key = (c.ctype, c.values.dtype.str, c.values.size, c.values.tobytes())
            if key not in self._stored:
                self._stored[key] = f"{prefix}_{c.name}"
                self.own_bytes[idx] += c.nbytes
                self.arrays.append((self._stored[key], c, idx, op.kind, comment_safe(op.name)))
            cnames[c.name] = self._stored[key]
        return cnames


def _io_names(g: Graph) -> dict[tuple[str, int], str]:
    """The C argument names of the model's inputs and outputs (input, or input0, input1...)."""
    names = {("input", k): f"input{k}" if len(g.inputs) > 1 else "input"
             for k in range(len(g.inputs))}
    names.update({("output", k): f"output{k}" if len(g.outputs) > 1 else "output"
                  for k in range(len(g.outputs))})
    return names


def _layers(g: Graph, kernels: dict[int, Kernel], mem: Plan, name: str,
            io_names: dict) -> tuple[list[Layer], _Consts]:
    """One Layer per op the plan did not elide, in order, with its constants' names and its
    call's arguments (activation buffers, then its scratch)."""
    layers: list[Layer] = []
    consts = _Consts()
    for pos, op in enumerate(g.ops):
        if pos in mem.elided:
            continue
        k = kernels[pos]
        idx = len(layers)
        fn = f"{name}_l{idx}_{op.kind.lower()}"
        cnames = consts.names(k, f"{name}_l{idx}", idx, op)
        parts = [Part(f"{fn}_p{j}", part, consts.names(part, f"{name}_l{idx}_p{j}", idx, op))
                 for j, part in enumerate(k.parts)]
        k.params["part_fns"] = [p.fn for p in parts]
        args = [_buffer_expr(g, mem, t, io_names)
                for t in k.act_inputs + k.act_outputs + k.act_states]
        if k.scratch_bytes:
            args.append(part_pointer("ARENA->", k.scratch_ctype, mem.scratch[pos]))
        k.params["_in_ctypes"] = [g.tensors[t].ctype for t in k.act_inputs]
        k.params["_out_ctypes"] = [g.tensors[t].ctype for t in k.act_outputs]
        k.params["_state_ctypes"] = [g.tensors[t].ctype for t in k.act_states]
        layers.append(Layer(idx, pos, fn, op.kind, comment_safe(op.name), k, cnames, args, parts))
    return layers, consts


def _render_bodies(g: Graph, layers: list[Layer], env: jinja2.Environment, name: str) -> None:
    """Each layer's (and fused part's) kernel body, rendered into its params' ``_body``."""
    portable = _environment()
    for layer in layers:
        with op_boundary(g.ops[layer.op_pos]):
            for part in [*layer.parts, layer]:
                # A variant names its template exactly; other kernels take the core's override.
                kenv = portable if part.kernel.variant else env
                part.kernel.params["_body"] = kenv.get_template(part.kernel.template).render(
                    **part.kernel.params, c=part.const_names, name=name)


def _tensor_info(g: Graph, t_name: str) -> dict:
    t = g.tensors[t_name]
    q = t.quant
    return {
        "name": t_name, "shape": list(t.shape), "dtype": t.dtype, "ctype": t.ctype,
        "size": t.size, "bytes": t.nbytes,
        "scale": q.scale[0] if q is not None else None,
        "zero_point": q.zero_point[0] if q is not None else None,
    }


def _layer_record(g: Graph, layer: Layer, own_bytes: int, ctx: Context) -> dict:
    """A layer's entry in manifest.json."""
    k = layer.kernel
    return {
        "index": layer.index, "name": layer.name, "op": layer.kind,
        # the op's position in the source model (the layers may run in another order)
        "op_index": g.ops[layer.op_pos].index,
        "macs": k.macs, "kernel": k.template, "variant": k.variant,
        # a fused layer's operators in the source model's order (ops/residual_rows.py)
        **({"fuses": k.params["fuses"]} if layer.parts else {}),
        "weight_format": k.weight_format,
        # (constants shared with an earlier layer are counted there)
        "weights_bytes": own_bytes,
        "dense_weights_bytes": k.dense_weights_bytes if k.dense_weights_bytes is not None else own_bytes,
        "scratch_bytes": k.scratch_bytes,
        "instructions_estimate": k.instructions,  # ops/cost.py
        "weight_stats": weight_stats(g.ops[layer.op_pos], g, ctx.weights != "dense", k.weight_format),
    }


def _manifest(g: Graph, tpl: dict, layers: list[Layer], consts: _Consts, mem: Plan,
              ctx: Context, ops_count: dict) -> dict:
    name = tpl["name"]
    return {
        "tinycompress": __version__,
        "name": name,
        "model_sha256": tpl["sha256"],
        "core": ctx.core,
        "kernel_families": list(ctx.families),
        "sources": [f"{name}.c", f"{name}_weights.c"],
        "headers": [f"{name}.h", f"{name}_weights.h", "tc_runtime.h"],
        "inputs": tpl["inputs"],
        "outputs": tpl["outputs"],
        "input": tpl["inputs"][0],
        "output": tpl["outputs"][0],
        "ops": ops_count,
        "macs": tpl["macs"],
        "weights_bytes": tpl["weights_bytes"],
        "arena_bytes": mem.arena_bytes,
        "state_bytes": mem.state_bytes,
        "layers": [_layer_record(g, layer, consts.own_bytes[layer.index], ctx) for layer in layers],
        "memory_plan": memory_plan(mem, [layer.op_pos for layer in layers]),
    }


def emit(g: Graph, name: str = "model", ctx: Context | None = None,
         model_sha256: str = "") -> EmitResult:
    ctx = ctx or Context()
    name = validate_name(name)
    check_supported(g)
    kernels = dict(enumerate(lower_all(g, ctx)))
    check_activations(g, kernels)
    ops_count = dict(sorted(Counter(op.kind for op in g.ops).items()))
    g, kernels = fuse_for_memory(g, kernels, ctx)
    g, kernels = order_for_memory(g, kernels)
    mem = plan(g, *memory_needs(kernels))
    apply_inplace(g, kernels, mem)
    env = _environment(ctx.families)

    io_names = _io_names(g)
    layers, consts = _layers(g, kernels, mem, name, io_names)
    _render_bodies(g, layers, env, name)
    tpl = dict(
        name=name, NAME=name.upper(), version=__version__, sha256=model_sha256,
        layers=layers, consts=consts.arrays,
        inputs=[dict(_tensor_info(g, t), arg=io_names[("input", k)]) for k, t in enumerate(g.inputs)],
        outputs=[dict(_tensor_info(g, t), arg=io_names[("output", k)]) for k, t in enumerate(g.outputs)],
        arena_bytes=mem.arena_bytes, weights_bytes=sum(c[1].nbytes for c in consts.arrays),
        macs=sum(layer.kernel.macs for layer in layers),
        state_bytes=mem.state_bytes, state_resets=_state_resets(g, mem),
        arena_parts=part_decls(mem.arena_parts), state_parts=part_decls(mem.state_parts),
    )
    files = {
        f"{name}.h": env.get_template("model.h.j2").render(**tpl),
        f"{name}.c": env.get_template("model.c.j2").render(**tpl),
        f"{name}_weights.h": env.get_template("weights.h.j2").render(**tpl),
        f"{name}_weights.c": env.get_template("weights.c.j2").render(**tpl),
        "tc_runtime.h": (templates_dir() / "tc_runtime.h").read_text(),
    }
    return EmitResult(files=files, manifest=_manifest(g, tpl, layers, consts, mem, ctx, ops_count),
                      plan=mem)
