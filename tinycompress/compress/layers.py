"""Which weights the compression passes may touch: an allow-list keyed by Keras layer type.

Dispatch is on the layer's class (walking its MRO, so subclasses inherit the entry), never
on its name. Each entry names the prunable weight attributes (kernels only: biases and
normalisation parameters are left dense) and the layer *kind* ("conv" or "dense"), which
selects default bit widths as in the paper (conv 8 bits, fully connected 5 bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from tinycompress.errors import UserError

__all__ = ["Target", "allow_list", "targets", "kernel_masks", "check_names"]


@cache
def allow_list() -> dict[type, tuple[tuple[str, ...], str]]:
    """``{layer class: (prunable weight attributes, kind)}``."""
    import keras

    L = keras.layers
    return {
        L.Dense: (("kernel",), "dense"),
        L.Conv2D: (("kernel",), "conv"),
        L.DepthwiseConv2D: (("kernel",), "conv"),
    }


@dataclass(frozen=True)
class Target:
    """One compressible weight: the layer, the weight variable and the layer kind."""

    layer: Any
    variable: Any
    kind: str  # "conv" or "dense"

    @property
    def name(self) -> str:
        """Stable key used in specs and reports: the layer name (one kernel per layer)."""
        return self.layer.name

    @property
    def layer_type(self) -> str:
        return type(self.layer).__name__

    def numpy(self) -> np.ndarray:
        return np.asarray(self.variable.numpy())


def _lookup(layer) -> tuple[tuple[str, ...], str] | None:
    table = allow_list()
    for cls in type(layer).__mro__:
        if cls in table:
            return table[cls]
    return None


def _walk(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and _lookup(layer) is None:
            yield from _walk(layer)  # nested Sequential/functional models
        else:
            yield layer


def targets(model) -> list[Target]:
    """Every allow-listed kernel of ``model``, in layer order."""
    out = []
    for layer in _walk(model):
        entry = _lookup(layer)
        if entry is None:
            continue
        attrs, kind = entry
        for attr in attrs:
            var = getattr(layer, attr, None)
            if var is not None:
                out.append(Target(layer, var, kind))
    return out


def kernel_masks(model) -> dict[str, np.ndarray]:
    """Masks recovered from a model: True where a kernel weight is nonzero.

    Pruned weights are exactly zero, so this is how a later pass finds an earlier pass's masks
    when they are not handed over explicitly.
    """
    return {t.name: t.numpy() != 0 for t in targets(model)}


def check_names(per_layer, names, what: str) -> None:
    """Refuse a per-layer setting that names none of ``names`` (``what``: e.g. 'prunable')."""
    names = list(names)
    unknown = sorted(set(per_layer) - set(names))
    if unknown:
        raise UserError(f"per_layer names unknown layer(s) {', '.join(unknown)}; {what} layers: "
                        f"{', '.join(names)}")
