"""`export --format zephyr`: a Zephyr module (Zephyr docs, doc/develop/modules.rst).

    DEST/zephyr/module.yml   name (lowercase, dashes), build: cmake: . / kconfig: Kconfig
    DEST/CMakeLists.txt      if(CONFIG_<PREFIX>): zephyr_library(), zephyr_library_sources(),
                             zephyr_include_directories(include)
    DEST/Kconfig             config <PREFIX>, a bool (default n)
    DEST/include/PREFIX.h    the API
    DEST/src/                the generated sources and private headers

Add it with -DEXTRA_ZEPHYR_MODULES=DEST (or a west manifest entry) and CONFIG_<PREFIX>=y in
prj.conf. Zephyr's board configuration provides the core flags.
"""

from __future__ import annotations

import re

from ..errors import UserError
from ._layout import readme, split_layout
from ._model import Model, render

TITLE = "Zephyr module"


def default_name(prefix: str) -> str:
    """Zephyr's convention for module names: lowercase letters and dashes."""
    return re.sub(r"-{2,}", "-", prefix.lower().replace("_", "-")).strip("-")


def package_name(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?", name):
        raise UserError(f"Zephyr module name '{name}' is invalid: lowercase letters, digits and "
                        "dashes, not starting or ending with a dash (--lib-name sets it)")
    return name


def package(m: Model, meta) -> dict[str, bytes]:
    symbol = m.NAME
    files = split_layout(m)
    files["zephyr/module.yml"] = render("zephyr/module.yml.j2", m=m, name=meta.name)
    files["CMakeLists.txt"] = render("zephyr/CMakeLists.txt.j2", m=m, symbol=symbol)
    files["Kconfig"] = render("zephyr/Kconfig.j2", m=m, symbol=symbol)
    files["README.md"] = readme(m, "zephyr", meta.name, symbol=symbol)
    return files
