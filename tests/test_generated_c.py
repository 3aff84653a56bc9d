"""The generated C is strict C99 on gcc, clang and arm-none-eabi-gcc (portable kernels on the
host, the DSP and Helium kernels for a Cortex-M4 and M55), has no strict-aliasing violation (no
cast of a pointer to a multi-byte type: the arena is typed by parts, multi-byte loads from int8
data go through memcpy), and its arena can be placed in a section or supplied by the caller."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from graph_builder import graph_model
from lstm_models import lstm_model
from optest import random_inputs
from test_op_svdf import svdf_model
from test_planner_inplace import add_chain, conv_chain, dw_chain
from tflite_builder import T, conv_model, dw_model, model
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.reference import Reference
from tinycompress.targets import host

FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-fstrict-aliasing",
         "-Wstrict-aliasing"]
# gcc's most eager level warns of every cast it suspects, even unused ones; the generated C
# has none it would warn of, so it is held to that level too.
GCC_EAGER = ["-Wstrict-aliasing=1"]
ARM = {"cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
       "cortex-m55": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"]}
BOARDS = {"cortex-m4": "mps2-an386", "cortex-m55": "mps3-an547"}

# A cast to a pointer to a type wider than a byte: the generated C has none (int8 data is read
# as wider words only through tc_ld32's memcpy, and every arena part has its own type).
WIDE_POINTER_CAST = re.compile(
    r"\(\s*(?:const\s+|volatile\s+)*(?:u?int(?:16|32|64)_t|float|double|(?:unsigned\s+)?"
    r"(?:short|int|long)|unsigned)\s*(?:const\s*)?\*[\s*]*(?:restrict\s*)?\)")


def _mixed_model() -> bytes:
    """int8 -> int16 -> float -> int8: an arena with int16 and float parts besides int8."""
    tensors = {"x": T((1, 64), scale=0.05, zero_point=3),
               "h": T((1, 64), "int16", scale=0.0004, zero_point=0),
               "f": T((1, 64), "float32"),
               "y": T((1, 64), scale=0.04, zero_point=-2)}
    ops = [("QUANTIZE", ["x"], ["h"], None), ("DEQUANTIZE", ["h"], ["f"], None),
           ("QUANTIZE", ["f"], ["y"], None)]
    return graph_model(tensors, ops, ["x"], ["y"])


def _fc_model(depth: int = 24) -> bytes:
    rng = np.random.default_rng(0)
    return model("FULLY_CONNECTED",
                 [T((2, depth), scale=0.05, zero_point=-3),
                  T((10, depth), scale=0.01, zero_point=0,
                    data=rng.integers(-127, 128, (10, depth)).astype(np.int8)),
                  T((10,), "int32", scale=0.0005, data=rng.integers(-900, 900, 10).astype(np.int32))],
                 [T((2, 10), scale=0.08, zero_point=4)])


# name -> (model, --weights): the arena's parts (int8/int32, int16, float), int16 scratch (LSTM
# gates), int16 state (SVDF), uint16 scratch (packed gather lists), the DSP/Helium kernels'
# int32 scratch (conv, 1x1, depthwise, fully connected).
MODELS = {
    "mixed": (_mixed_model, "dense"),
    "lstm": (lambda: lstm_model(), "dense"),
    "svdf": (lambda: svdf_model(8, 6, 4, 2), "dense"),
    "dequantize": (lambda: model("DEQUANTIZE", [T((1, 32), scale=0.1, zero_point=3)],
                                 [T((1, 32), "float32")]), "dense"),
    "conv": (lambda: conv_model(7, 7, 5, 6, 3, 3), "dense"),
    "conv_1x1": (lambda: conv_model(4, 4, 8, 8, 1, 1), "dense"),
    "conv_sparse": (lambda: conv_model(7, 7, 5, 6, 3, 3), "sparse"),
    "dw": (lambda: dw_model(6, 6, 32, 1, 3, 3), "dense"),
    "dw_sparse": (lambda: dw_model(6, 6, 8, 1, 3, 3), "sparse"),
    "fc": (_fc_model, "dense"),
    # csr (the Helium kernel's inline asm and single-rounding requant on the M55): uint8 and
    # uint16 columns
    "fc_csr": (_fc_model, "csr"),
    "fc_csr_wide": (lambda: _fc_model(300), "csr"),
    # in place (planner.Alias): depthwise through its row ring, a 3x3 conv through its pixel
    # ring (DSP), ADD over its operand
    "inplace_dw": (lambda: dw_chain(9, 6, 8, 1, 3, 1, 1, "SAME"), "dense"),
    "inplace_conv": (lambda: conv_chain(12, 10, 8, 8, 3), "dense"),
    "inplace_add": (add_chain, "dense"),
}


@functools.lru_cache(maxsize=None)
def _generated(key: str, board: str | None) -> tuple[dict[str, bytes], dict]:
    build, weights = MODELS[key]
    return compile_tflite(build(), name="m", board=board, weights=weights)


def _write(tmp: Path, key: str, board: str | None) -> tuple[Path, dict]:
    files, manifest = _generated(key, board)
    out = tmp / f"{key}-{board}"
    write_outdir(out, files)
    return out, manifest


def _compile(cc: list[str], out: Path, manifest: dict, extra: list[str] = ()) -> None:
    for src in manifest["sources"]:
        for mode in ([], ["-DM_EXTERNAL_ARENA"]):
            cmd = [*cc, *FLAGS, *extra, *mode, "-c", str(out / src), "-o", str(out / "x.o")]
            proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stderr}"


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_portable_c_compiles_strictly(cc, tmp_path):
    if shutil.which(cc) is None:
        pytest.skip(f"needs {cc} (setup.sh installs it)")
    extra = GCC_EAGER if cc == "gcc" else []
    for key in MODELS:
        out, manifest = _write(tmp_path, key, None)
        _compile([cc], out, manifest, extra)


@pytest.mark.parametrize("core", sorted(ARM))
def test_core_kernels_compile_strictly(core, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc (setup.sh installs it)")
    variants = set()
    for key in MODELS:
        out, manifest = _write(tmp_path, key, BOARDS[core])
        variants |= {layer["variant"] for layer in manifest["layers"]}
        _compile(["arm-none-eabi-gcc", *ARM[core]], out, manifest, GCC_EAGER)
    family = "mve" if core == "cortex-m55" else "dsp"
    own = {v for v in variants if v == family or v.startswith(f"{family}_")}
    assert own, variants  # the core's own kernels ran


def _wide_casts(text: str) -> list[str]:
    return [m.group(0) for m in WIDE_POINTER_CAST.finditer(text)]


def test_scan_catches_the_old_casts():
    """The scan below can fail: it finds the casts the generated C used to have."""
    old = ["int32_t *xw = (int32_t *)(void *)scratch;",
           "tc_dot4a_s8(xw, (const int32_t *)(const void *)wr, 4, a);",
           "m_l1_svdf(input, output, ((int16_t *)(void *)(state + 0)));",
           "uint16_t *const go = (uint16_t *)(void *)scratch;",
           "const float *f = (const float *) p;"]
    assert all(_wide_casts(line) for line in old)
    assert not _wide_casts("y[i] = (int8_t)tc_clamp_i32((int32_t)x, lo, hi); "
                           "const int8_t *b = (const int8_t *)arena->i32 + 16;")


@pytest.mark.parametrize("board", [None, "mps2-an386", "mps3-an547"])
def test_no_wide_pointer_casts_in_generated_c(board):
    for key in MODELS:
        files, manifest = _generated(key, board)
        for name in [*manifest["sources"], *manifest["headers"]]:
            casts = _wide_casts(files[name].decode())
            assert not casts, f"{key} ({board}): {name} casts {casts[:3]}"


def test_arena_parts_are_typed():
    files, manifest = _generated("mixed", None)
    h = files["src/m.h"].decode()
    parts = re.findall(r"^    (\w+) (\w+)\[(\d+)\]; /\* (\d+) bytes \*/$", h, re.M)
    assert [p[:2] for p in parts] == [("float", "f32"), ("int16_t", "i16")]  # (x, y: the caller's)
    assert sum(int(p[3]) for p in parts) == manifest["arena_bytes"]
    assert f"#define M_ARENA_BYTES {manifest['arena_bytes']}" in h
    lstm_c = _generated("lstm", None)[0]["src/m.c"].decode()
    assert re.search(r"int16_t \*restrict scratch\)", lstm_c)  # the gates: a typed scratch


EXTERNAL_MAIN = r"""
#include <stdio.h>
#include "m.h"
static M_ARENA_DEFINE(arena);
static const int8_t x[%(n)d][M_INPUT_ELEMENTS] = {%(x)s};
int main(void)
{
    int8_t y[M_OUTPUT_ELEMENTS];
    int v;
    if (m_invoke_with_arena(NULL, x[0], y) != M_ERR_ARENA_NULL
        || m_invoke_with_arena((char *)&arena + 4, x[0], y) != M_ERR_ARENA_ALIGN
        || m_invoke_with_arena(&arena, NULL, y) != M_ERR_NULL
        || m_invoke_with_arena(&arena, x[0], (int8_t *)x[0]) != M_ERR_OVERLAP) {
        return 2;
    }
    for (v = 0; v < %(n)d; ++v) {
        if (m_invoke_with_arena(&arena, x[v], y) != 0) {
            return 3;
        }
        fwrite(y, 1, sizeof y, stdout);
    }
    return 0;
}
"""


@pytest.mark.parametrize("key", ["mixed", "lstm", "inplace_dw"])
def test_caller_supplied_arena_is_bit_exact(key, tmp_path):
    """With M_EXTERNAL_ARENA the caller's M_ARENA_DEFINE'd arena is used (sanitizers on); a NULL
    or misaligned one, and NULL or overlapping buffers, are refused with their status."""
    out, manifest = _write(tmp_path, key, None)
    x = random_inputs(manifest, 12, np.random.default_rng(4))[0]
    rows = ",".join("{" + ",".join(map(str, r)) + "}" for r in x.tolist())
    (tmp_path / "main.c").write_text(EXTERNAL_MAIN % {"n": len(x), "x": rows})
    exe = tmp_path / "ext"
    subprocess.run(["gcc", *host.CFLAGS, *host.SANITIZE, "-DM_EXTERNAL_ARENA",
                    f"-I{out / 'src'}", str(tmp_path / "main.c"),
                    *(str(out / s) for s in manifest["sources"]), "-o", str(exe)], check=True, capture_output=True, text=True)
    proc = subprocess.run([str(exe)], capture_output=True, env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    got = np.frombuffer(proc.stdout, np.int8).reshape(len(x), -1)
    ref = Reference(_generated(key, None)[0]["m.tflite"])
    expected = np.stack([np.asarray(ref.run([row])[0]).reshape(-1) for row in x])
    np.testing.assert_array_equal(got, expected)
    assert len(np.unique(expected)) >= 16


def test_arena_section_is_overridable(tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc (setup.sh installs it)")
    from elftools.elf.elffile import ELFFile

    out, manifest = _write(tmp_path, "mixed", "mps2-an386")
    obj = tmp_path / "m.o"
    subprocess.run(["arm-none-eabi-gcc", *ARM["cortex-m4"], *FLAGS,
                    "-DM_ARENA_SECTION=__attribute__((section(\".sram2\")))", "-c",
                    str(out / "src" / "m.c"), "-o", str(obj)], check=True, capture_output=True, text=True)
    with open(obj, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".sram2")
        assert sec is not None and sec["sh_size"] == manifest["arena_bytes"]
        assert sec["sh_addralign"] == 16


def test_generated_c_is_byte_reproducible():
    for key in ("mixed", "conv_sparse"):
        build, weights = MODELS[key]
        a = compile_tflite(build(), name="m", weights=weights)[0]
        b = compile_tflite(build(), name="m", weights=weights)[0]
        assert a == b
