"""Operator lowerings, one module per operator; importing this package imports every module the
operator table (table.py) names, each registering its Lowering."""

import importlib

from .base import REGISTRY, ConstArray, Context, Kernel, Lowering, register
from .table import OPERATORS, supported

for _mod in sorted({e.module for e in supported().values()}):
    importlib.import_module(f"{__name__}.{_mod}")

_unlisted = sorted(set(REGISTRY) - set(supported()))
_missing = sorted(set(supported()) - set(REGISTRY))
if _unlisted or _missing:
    raise ImportError(f"operator table and lowerings disagree: registered but not in the table "
                      f"{_unlisted}, in the table but not registered {_missing}")

__all__ = ["OPERATORS", "REGISTRY", "ConstArray", "Context", "Kernel", "Lowering", "register"]
