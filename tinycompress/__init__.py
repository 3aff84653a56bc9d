"""tinycompress: compile neural networks to bit-exact, dependency-free INT8 C99 for microcontrollers.

The Python API mirrors the command line, one function per command, each returning a typed result
(tinycompress.results; ``result.to_json()`` is what the command's ``--json`` prints)::

    import tinycompress
    built = tinycompress.compile("model.keras", "out", calibration=x_train[:500])
    assert tinycompress.verify("out").bit_exact

compile, verify, check, export, report, compress, distill, qat: see tinycompress.api and docs/api.md.
Bad input raises tinycompress.errors.UserError. Importing this package imports neither numpy nor
TensorFlow: the API loads on first use.

The names check, verify, export, report and compress are also modules of this package; the package's
attribute is always the function. Import the modules by their full name
(``from tinycompress.check import human_bytes``), never as ``tinycompress.check.X``.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

# API function -> the module defining it.
API = {name: "tinycompress.api"
       for name in ("compile", "verify", "check", "export", "report", "compress", "distill", "qat")}
__all__ = [*API, "__version__"]


def _function(name: str):
    return getattr(importlib.import_module(API[name]), name)


def _api_attribute(name: str) -> property:
    def get(self):
        return _function(name)

    def set_(self, value):
        # The import system sets a submodule of the same name here; keep it out of the way.
        self.__dict__.setdefault("_submodules", {})[name] = value

    return property(get, set_, doc=f"tinycompress.api.{name}")


class _Package(types.ModuleType):
    """This package's type: its API names resolve to the API's functions even after the
    submodules of the same names (tinycompress.check, ...) were imported."""


for _name in API:
    setattr(_Package, _name, _api_attribute(_name))

sys.modules[__name__].__class__ = _Package
del _name
