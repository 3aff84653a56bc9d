"""`export --format cmake`: a CMake project with one static library target.

    DEST/CMakeLists.txt          add_library(PREFIX STATIC ...), include/ PUBLIC; the board's
                                 core flags as a usage requirement when cross-compiling for Arm
    DEST/include/PREFIX.h        the API
    DEST/src/                    the generated sources and private headers
    DEST/example/main.c          PREFIX_example: one inference on a stored input, output printed
                                 (option PREFIX_EXAMPLE, ON unless cross-compiling)
    DEST/cmake/arm-none-eabi.cmake  toolchain file for arm-none-eabi-gcc

`add_subdirectory(DEST)` and `target_link_libraries(app PRIVATE PREFIX)` are all a project needs.
"""

from __future__ import annotations

import re

from ..errors import UserError
from ._layout import example_c, readme, split_layout
from ._model import Model, render

TITLE = "CMake static library"


def package_name(name: str) -> str:
    """The library target: a CMake target name (letters, digits, _ . + -)."""
    if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", name):
        raise UserError(f"--lib-name '{name}' is not a CMake target name: use letters, digits "
                        "and _ . + - (at most 64)")
    return name


def package(m: Model, meta) -> dict[str, bytes]:
    target = meta.name
    upper = re.sub(r"[^A-Za-z0-9]", "_", target).upper()
    files = split_layout(m)
    files["CMakeLists.txt"] = render("cmake/CMakeLists.txt.j2", m=m, target=target, upper=upper)
    files["cmake/arm-none-eabi.cmake"] = render("cmake/arm-none-eabi.cmake.j2", m=m)
    files["example/main.c"] = example_c(m, "example/main.c")
    files["README.md"] = readme(m, "cmake", target, upper=upper)
    return files
