"""The typed intermediate representation every pass, the planner and the emitter share.

A `Graph` is a list of `Op`s in execution order over named `Tensor`s. Tensors carry a static
shape (batch 1), a dtype, optional affine quantisation (per-tensor or per-axis) and, for
constants, their data. Ops carry a kind (the TFLite builtin name, e.g. ``"CONV_2D"``), input and
output tensor names and a dict of options with normalised keys.

`Graph.verify()` states what is legal and refuses anything else with a message naming the op and
tensor at fault.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import TinyCompressError

DTYPES = {
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "float32": np.float32,
    "bool": np.bool_,
}

C_TYPES = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "int64": "int64_t",
    "float32": "float",
    "bool": "uint8_t",
}


class IRError(TinyCompressError):
    """The IR broke one of its invariants (a compiler bug or an unsupported model feature)."""


@dataclass(frozen=True)
class Quant:
    """Affine quantisation: real = scale * (q - zero_point), per tensor or along `axis`."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    def __post_init__(self):
        if len(self.scale) == 0 or len(self.scale) != len(self.zero_point):
            raise IRError(
                f"quantisation needs as many scales as zero points, got {len(self.scale)} "
                f"and {len(self.zero_point)}"
            )

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    @property
    def s(self) -> float:
        """The per-tensor scale (only valid when not per-channel)."""
        if self.per_channel:
            raise IRError("per-tensor scale asked of a per-channel quantisation")
        return self.scale[0]

    @property
    def zp(self) -> int:
        if self.per_channel and any(z != self.zero_point[0] for z in self.zero_point):
            raise IRError("per-tensor zero point asked of a per-channel quantisation")
        return self.zero_point[0]


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None  # constants only
    # Storage format of constant data in flash: "dense" now; compressed formats later.
    weight_format: str = "dense"
    # A variable (state) tensor: it persists between invocations (after PREFIX_reset() zero, or
    # for int8 its zero point, as TFLite's ResetVariableTensor),
    # is read and updated in place by the ops that take it, and lives outside the reused arena.
    variable: bool = False
    # Only carries quantisation for a fused op (e.g. the integer LSTM's gate scales): no storage.
    intermediate: bool = False

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def itemsize(self) -> int:
        return np.dtype(DTYPES[self.dtype]).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def ctype(self) -> str:
        return C_TYPES[self.dtype]


@dataclass
class Op:
    kind: str
    inputs: list[str]  # "" marks an absent optional input
    outputs: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # a human name: the layer's output tensor name in the source model
    index: int = -1  # position in the source model (for error messages)
    # Tensors that only carry parameters of a fused op (TFLite's "intermediates": the integer
    # LSTM's gate and hidden-state quantisation); never read or written at run time.
    intermediates: list[str] = field(default_factory=list)

    def describe(self) -> str:
        name = self.name if len(self.name) <= 60 else self.name[:28] + "..." + self.name[-29:]
        return f"{self.kind} (op {self.index}, '{name}')"


@dataclass
class Graph:
    tensors: dict[str, Tensor]
    ops: list[Op]
    inputs: list[str]
    outputs: list[str]
    name: str = "model"

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise IRError(f"no tensor named '{name}'") from None

    def producers(self) -> dict[str, Op]:
        return {t: op for op in self.ops for t in op.outputs}

    def consumers(self) -> dict[str, list[Op]]:
        result: dict[str, list[Op]] = {}
        for op in self.ops:
            for t in op.inputs:
                if t:
                    result.setdefault(t, []).append(op)
        return result

    def op_inputs(self, op: Op) -> list[Tensor | None]:
        return [self.tensors[t] if t else None for t in op.inputs]

    def copy(self) -> "Graph":
        return Graph(
            tensors={k: dataclasses.replace(v) for k, v in self.tensors.items()},
            ops=[dataclasses.replace(o, inputs=list(o.inputs), outputs=list(o.outputs),
                                     options=dict(o.options),
                                     intermediates=list(o.intermediates)) for o in self.ops],
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            name=self.name,
        )

    def remove_dead(self) -> None:
        """Drop ops whose outputs nobody needs, and tensors nobody references."""
        live = set(self.outputs)
        kept: list[Op] = []
        for op in reversed(self.ops):
            if any(o in live for o in op.outputs):
                kept.append(op)
                live.update(t for t in op.inputs if t)
        self.ops = list(reversed(kept))
        used = set(self.inputs) | set(self.outputs)
        for op in self.ops:
            used.update(t for t in op.inputs if t)
            used.update(op.outputs)
            used.update(op.intermediates)
        self.tensors = {k: v for k, v in self.tensors.items() if k in used}

    def state_tensors(self) -> list[str]:
        """The variable (state) tensors, in the order of their first use."""
        seen: dict[str, None] = {}
        for op in self.ops:
            for t in op.inputs:
                if t and self.tensors[t].variable:
                    seen.setdefault(t)
        return list(seen)

    def verify(self) -> None:
        """Check the invariants every pass may rely on; raise IRError naming what is wrong."""
        defined = set(self.inputs)
        for name in self.inputs + self.outputs:
            if name not in self.tensors:
                raise IRError(f"graph input/output '{name}' is not a tensor")
        for name in self.inputs:
            if self.tensors[name].is_const:
                raise IRError(f"graph input '{name}' is a constant")
            if self.tensors[name].variable:
                raise IRError(f"graph input '{name}' is a variable (state) tensor")
        for t in self.tensors.values():
            if t.dtype not in DTYPES:
                raise IRError(f"tensor '{t.name}' has unsupported dtype {t.dtype}")
            if t.variable:
                if t.is_const:
                    raise IRError(f"variable tensor '{t.name}' has constant data")
                defined.add(t.name)  # zero at reset, then what its op last wrote
            if t.intermediate:
                continue  # quantisation only: no shape, no storage
            if any((not isinstance(d, int)) or d < 1 for d in t.shape):
                raise IRError(f"tensor '{t.name}' has a non-static shape {t.shape}")
            if t.data is not None:
                if tuple(t.data.shape) != tuple(t.shape):
                    raise IRError(f"constant '{t.name}' data shape {t.data.shape} != {t.shape}")
                if t.data.dtype != np.dtype(DTYPES[t.dtype]):
                    raise IRError(f"constant '{t.name}' data dtype {t.data.dtype} != {t.dtype}")
                defined.add(t.name)
            if t.quant is not None and t.quant.per_channel:
                if not (0 <= t.quant.axis < len(t.shape)) or len(t.quant.scale) != t.shape[
                    t.quant.axis
                ]:
                    raise IRError(
                        f"tensor '{t.name}': {len(t.quant.scale)} scales along axis "
                        f"{t.quant.axis} do not match shape {t.shape}"
                    )
        written: set[str] = set()
        for op in self.ops:
            for t in op.intermediates:
                if t not in self.tensors or not self.tensors[t].intermediate:
                    raise IRError(f"{op.describe()}: intermediate '{t}' is not an intermediate "
                                  "tensor")
            for t in op.inputs:
                if t and t not in defined:
                    raise IRError(f"{op.describe()} reads '{t}' before it is computed")
            for t in op.outputs:
                if t not in self.tensors:
                    raise IRError(f"{op.describe()} writes unknown tensor '{t}'")
                if (t in written or t in set(self.inputs) or self.tensors[t].is_const
                        or self.tensors[t].variable or self.tensors[t].intermediate):
                    raise IRError(f"{op.describe()} writes '{t}', which is already defined")
                written.add(t)
                defined.add(t)
        for name in self.outputs:
            if name not in defined:
                raise IRError(f"graph output '{name}' is never computed")
