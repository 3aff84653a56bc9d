"""Graph passes: decompositions, fusions and normalisations of the IR before lowering.

Each pass is a module of this package that declares `SPEC`, a `PassSpec` (its name, what it does,
the operators it rewrites or creates), and a function `apply(graph) -> None` that rewrites the
graph in place. `PIPELINE` names them in the order they run; `run` verifies the IR before the
first and after each, so a pass that breaks an invariant is named. Adding a pass is one module
and one line here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from ..errors import UserError
from ..ir import Graph, IRError


@dataclass(frozen=True)
class PassSpec:
    name: str  # the module name, and how the pipeline refers to it
    summary: str  # one line: what it rewrites into what
    kinds: tuple[str, ...] = ()  # the operators it rewrites (for the operator table)


@dataclass(frozen=True)
class Pass:
    spec: PassSpec
    apply: Callable[[Graph], None]


# The default pipeline, in order.
PIPELINE: tuple[str, ...] = (
    "static_shapes",
)


def _load(name: str) -> Pass:
    try:
        mod = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise UserError(f"unknown pass '{name}': known passes are {', '.join(PIPELINE)}") from None
    spec = getattr(mod, "SPEC", None)
    if not isinstance(spec, PassSpec) or spec.name != name or not callable(getattr(mod, "apply",
                                                                                   None)):
        raise IRError(f"pass module '{name}' lacks SPEC (a PassSpec named '{name}') or apply()")
    return Pass(spec, mod.apply)


REGISTRY: dict[str, Pass] = {name: _load(name) for name in PIPELINE}


def run(g: Graph, pipeline: tuple[str, ...] = PIPELINE) -> Graph:
    """Run the passes named by `pipeline` in order, verifying the IR before and after each."""
    passes = [REGISTRY[name] if name in REGISTRY else _load(name) for name in pipeline]
    g.verify()
    for p in passes:
        p.apply(g)
        try:
            g.verify()
        except IRError as e:
            raise IRError(f"after pass {p.spec.name}: {e}") from e
    return g
