"""`export`: the compiled model as CMake, Arduino, Zephyr and PlatformIO packages.

The CMake package is built with CMake for the host (its example's output must equal the
reference interpreter's) and for the Cortex-M4 with its toolchain file, and linked into firmware
with the project's startup code and linker script, run under QEMU. The Arduino sketch is compiled
as C++ against a stub Arduino.h and run. The other formats are checked against their
specifications' rules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from optest import QEMU_MARKS
from tflite_builder import T, conv_model, model
from tinycompress.cli import main
from tinycompress.compiler import compile_model
from tinycompress.export import FORMATS, Meta, export
from tinycompress.export._write import MARKER
from tinycompress.reference import Reference

NEEDS_CMAKE = pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake (setup.sh)")
NEEDS_ARM = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                               reason="needs arm-none-eabi-gcc (setup.sh)")
WERROR = "-Wall -Wextra -Werror"


def _sh(cmd, cwd=None, timeout=300) -> str:
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def _compile(tmp: Path, tflite: bytes, name="net", board=None, calibration=True) -> Path:
    src = tmp / f"{name}-{board}.tflite"
    src.write_bytes(tflite)
    cal = None
    if calibration:
        shape = Reference(tflite).input_details[0]["shape"][1:]
        cal = tmp / "cal.npz"
        np.savez(cal, x=np.random.default_rng(7).integers(-128, 128, (5, *shape)).astype(np.int8))
    out = tmp / f"out-{name}-{board}-{calibration}"
    compile_model(src, out, calibration=cal, name=name, board=board)
    return out


def _add_model() -> bytes:
    """Two graph inputs (ADD): the example feeds the stored vector to input 0, zeros to input 1."""
    return model("ADD", [T((1, 4, 4, 3), scale=0.05, zero_point=-3),
                         T((1, 4, 4, 3), scale=0.07, zero_point=10)],
                 [T((1, 4, 4, 3), scale=0.1, zero_point=2)])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    conv = conv_model(8, 8, 3, 4, 3, 3)
    return {
        "conv": (_compile(tmp, conv), conv),
        "conv_zeros": (_compile(tmp, conv, calibration=False), conv),
        "conv_m4": (_compile(tmp, conv, board="mps2-an386"), conv),
        "add": (_compile(tmp, _add_model(), name="pair"), _add_model()),
    }


def _expected(outdir: Path, tflite: bytes) -> list[np.ndarray]:
    """The reference interpreter's outputs on the example's input: vectors.npz[0] for input 0
    when stored, zeros elsewhere."""
    ref = Reference(tflite)
    xs = [np.zeros(int(np.prod(d["shape"])), d["dtype"]) for d in ref.input_details]
    if (outdir / "vectors.npz").exists():
        with np.load(outdir / "vectors.npz") as z:
            xs[0] = z["x"][0]
    return ref.run(xs)


def _printed(text: str, name: str) -> dict[int, np.ndarray]:
    found = re.findall(rf"^{name} output (\d+):((?: -?\d+)*)$", text, re.M)
    return {int(k): np.array(v.split(), dtype=np.int64) for k, v in found}


def _assert_prints_reference(text: str, name: str, outdir: Path, tflite: bytes) -> None:
    expected = _expected(outdir, tflite)
    got = _printed(text, name)
    assert sorted(got) == list(range(len(expected))), text
    for k, e in enumerate(expected):
        np.testing.assert_array_equal(got[k], e.astype(np.int64))


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ---------------------------------------------------------------- cmake


def _cmake_user_project(root: Path, pkg: Path, name: str, outdir: Path) -> Path:
    """A user's host project that takes the package with two lines and calls the model."""
    root.mkdir()
    (root / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f'add_subdirectory("{pkg}" {name})\n'
        "add_executable(app app.c)\n"
        f"target_link_libraries(app PRIVATE {name})\n")
    x = np.load(outdir / "vectors.npz")["x"][0]
    (root / "app.c").write_text(
        f'#include <stdio.h>\n#include "{name}.h"\n'
        f"static const int8_t in[{name.upper()}_INPUT_ELEMENTS] = {{{', '.join(map(str, x))}}};\n"
        f"static int8_t out[{name.upper()}_OUTPUT_ELEMENTS];\n"
        "int main(void)\n{\n    unsigned i;\n"
        f"    if ({name}_invoke(in, out) != 0)\n        return 1;\n"
        f'    printf("{name} output 0:");\n'
        f"    for (i = 0; i < {name.upper()}_OUTPUT_ELEMENTS; i++)\n"
        '        printf(" %d", out[i]);\n    printf("\\n");\n    return 0;\n}\n')
    return root


@NEEDS_CMAKE
@pytest.mark.parametrize("key", ["conv", "conv_zeros", "add"])
def test_cmake_host_example_prints_the_reference_output(models, tmp_path, key):
    outdir, tflite = models[key]
    name = json.loads((outdir / "manifest.json").read_text())["name"]
    pkg = tmp_path / "pkg"
    result = export(outdir, "cmake", pkg)
    assert result.example_input == ("zeros" if key == "conv_zeros" else "vectors.npz[0]")
    build = tmp_path / "build"
    _sh(["cmake", "-S", pkg, "-B", build, f"-DCMAKE_C_FLAGS={WERROR}"])
    _sh(["cmake", "--build", build])
    _assert_prints_reference(_sh([build / f"{name}_example"]), name, outdir, tflite)


@NEEDS_CMAKE
def test_cmake_add_subdirectory_and_link_is_all_a_project_needs(models, tmp_path):
    outdir, tflite = models["conv"]
    pkg = tmp_path / "pkg"
    export(outdir, "cmake", pkg)
    app = _cmake_user_project(tmp_path / "app", pkg, "net", outdir)
    build = tmp_path / "build"
    _sh(["cmake", "-S", app, "-B", build, f"-DCMAKE_C_FLAGS={WERROR}"])
    _sh(["cmake", "--build", build])
    _assert_prints_reference(_sh([build / "app"]), "net", outdir, tflite)
    assert (build / "net" / "net_example").exists()  # the example option is ON on the host


@NEEDS_CMAKE
@NEEDS_ARM
def test_cmake_cortex_m4_library_with_the_toolchain_file(models, tmp_path):
    outdir, _ = models["conv_m4"]
    pkg = tmp_path / "pkg"
    export(outdir, "cmake", pkg)
    build = tmp_path / "build"
    _sh(["cmake", "-S", pkg, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={pkg}/cmake/arm-none-eabi.cmake",
         "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", f"-DCMAKE_C_FLAGS={WERROR}"])
    _sh(["cmake", "--build", build])
    assert (build / "libnet.a").exists() and not (build / "net_example").exists()
    commands = json.loads((build / "compile_commands.json").read_text())
    assert len(commands) == 2  # the two sources, no example when cross-compiling
    for c in commands:
        assert "arm-none-eabi-gcc" in c["command"]
        for flag in ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                     "-std=c99", "-O2"):
            assert flag in c["command"].split(), (flag, c["command"])
    attrs = _sh(["arm-none-eabi-readelf", "-A", build / "libnet.a"])
    assert "Tag_CPU_arch: v7E-M" in attrs and "Tag_ABI_VFP_args: VFP registers" in attrs


@NEEDS_CMAKE
def test_cmake_host_build_of_core_kernels_is_refused_with_the_fix(models, tmp_path):
    outdir, _ = models["conv_m4"]
    pkg = tmp_path / "pkg"
    export(outdir, "cmake", pkg)
    p = subprocess.run(["cmake", "-S", pkg, "-B", tmp_path / "build"], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    text = " ".join(p.stderr.split())
    assert "net was compiled for mps2-an386 (cortex-m4, dsp kernels)" in text
    assert "arm-none-eabi.cmake" in text


def _firmware_project(root: Path, pkg: Path, outdir: Path, inputs: np.ndarray) -> Path:
    """The user's firmware: the project's startup code, harness and linker script for QEMU's
    mps2-an386, the model from the package by add_subdirectory + target_link_libraries."""
    from tinycompress.boards import get_board
    from tinycompress.targets import cortexm

    root.mkdir()
    manifest = json.loads((outdir / "manifest.json").read_text())
    (root / "tc_model_glue.h").write_text(cortexm.glue_header(manifest))
    (root / "testdata.c").write_text(cortexm.testdata_source([inputs], manifest["inputs"]))
    (root / "fw.ld").write_text(cortexm.render_linker_script(get_board("mps2-an386"),
                                                             use_testdata=True))
    fw = cortexm.firmware_dir()
    sources = " ".join(f'"{fw / f}"' for f in cortexm.FIRMWARE_SOURCES)
    (root / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(fw C ASM)\n"
        f'add_subdirectory("{pkg}" net)\n'
        f"add_executable(fw.elf {sources} testdata.c)\n"
        f'target_include_directories(fw.elf PRIVATE "{fw}" "${{CMAKE_CURRENT_SOURCE_DIR}}")\n'
        "target_link_libraries(fw.elf PRIVATE net)\n"
        "target_link_options(fw.elf PRIVATE -T${CMAKE_CURRENT_SOURCE_DIR}/fw.ld -nostartfiles "
        "--specs=nano.specs --specs=nosys.specs)\n")
    return root


@NEEDS_CMAKE
@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_cmake_package_linked_into_firmware_runs_bit_exact_under_qemu(models, tmp_path):
    from tinycompress.boards import get_board
    from tinycompress.targets import qemu

    outdir, tflite = models["conv_m4"]
    pkg = tmp_path / "pkg"
    export(outdir, "cmake", pkg)
    rng = np.random.default_rng(3)
    inputs = np.concatenate([np.load(outdir / "vectors.npz")["x"][:2].reshape(2, -1),
                             rng.integers(-128, 128, (4, 192)).astype(np.int8)])
    fw = _firmware_project(tmp_path / "fw", pkg, outdir, inputs)
    build = tmp_path / "build"
    _sh(["cmake", "-S", fw, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={pkg}/cmake/arm-none-eabi.cmake"])
    _sh(["cmake", "--build", build])
    run = qemu._run_qemu(build / "fw.elf", get_board("mps2-an386"), 256, plugin=None,
                         timeout=120, workdir=build)
    expected = Reference(tflite).run_batch(inputs)
    manifest = json.loads((outdir / "manifest.json").read_text())
    (got,) = qemu.split_outputs(run.outputs, manifest["outputs"])
    np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- arduino

_ARDUINO_REQUIRED = ("name", "version", "author", "maintainer", "sentence", "paragraph",
                     "category", "url", "architectures")
_ARDUINO_CATEGORIES = {"Display", "Communication", "Signal Input/Output", "Sensors",
                       "Device Control", "Timing", "Data Storage", "Data Processing", "Other"}


def _properties(path: Path) -> dict[str, str]:
    props = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not key=value: {line!r}"
            props[key] = value
    return props


def _unresolved_includes(lib: Path, sketch: Path) -> list[str]:
    """Quoted includes resolve beside the file or in src/ (the only include path), angle ones
    of the sketch in src/; the C library's own headers are the system's."""
    src = lib / "src"
    missing = []
    for f in list(src.rglob("*.[ch]")) + [sketch]:
        for kind, inc in re.findall(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', f.read_text(), re.M):
            if kind == "<" and f != sketch or inc == "tc_profile.h":  # the harness's, with
                continue                                               # -DTC_PROFILE only
            if not ((f.parent / inc).is_file() or (src / inc).is_file()):
                missing.append(f"{f.relative_to(lib)}: {inc}")
    return missing


def test_arduino_library_follows_the_specification(models, tmp_path):
    outdir, _ = models["conv"]
    lib = tmp_path / "net_arduino"
    result = export(outdir, "arduino", lib, meta=Meta(author="Ada <ada@example.com>"), zip=True)
    props = _properties(lib / "library.properties")
    for key in _ARDUINO_REQUIRED:
        assert props.get(key, "").strip(), key
    assert props["name"] == "net" and props["version"] == "1.0.0"
    assert props["category"] in _ARDUINO_CATEGORIES and props["architectures"] == "*"
    assert props["maintainer"] == "Ada <ada@example.com>"
    assert props["includes"] == "net.h"
    # Only the API header in src/'s root (what "Include Library" adds); the rest beneath it.
    assert sorted(p.name for p in (lib / "src").glob("*.h")) == ["net.h"]
    assert sorted(p.name for p in (lib / "src" / "net").iterdir()) == [
        "net.c", "net_weights.c", "net_weights.h", "tc_runtime.h"]
    sketches = sorted((lib / "examples").iterdir())
    assert [s.name for s in sketches] == ["Inference"]
    assert (sketches[0] / "Inference.ino").is_file()
    assert _unresolved_includes(lib, sketches[0] / "Inference.ino") == []
    assert "#include <net.h>" in (sketches[0] / "Inference.ino").read_text()
    keywords = (lib / "keywords.txt").read_text()
    assert re.search(r"^net_invoke\tKEYWORD2$", keywords, re.M)
    # The zip holds the library folder, byte for byte.
    assert result.zip == tmp_path / "net_arduino.zip"
    with zipfile.ZipFile(result.zip) as zf:
        names = zf.namelist()
        assert all(n.startswith("net_arduino/") for n in names)
        for n in names:
            assert zf.read(n) == (tmp_path / n).read_bytes()
        assert len(names) == len(result.files)


_ARDUINO_STUB = """\
#include <stdint.h>
#include <stdio.h>
struct StubSerial {
    void begin(long) {}
    explicit operator bool() const { return true; }
    void print(const char *s) { fputs(s, stdout); }
    void print(char c) { putchar(c); }
    void print(long v) { printf("%ld", v); }
    void print(int v) { printf("%d", v); }
    void print(unsigned long v) { printf("%lu", v); }
    void print(double v, int digits) { printf("%.*f", digits, v); }
    void println() { putchar('\\n'); }
    void println(const char *s) { puts(s); }
    void println(int v) { printf("%d\\n", v); }
};
extern StubSerial Serial;
static inline unsigned long millis() { return 0; }
static inline unsigned long micros() { return 0; }
"""


@pytest.mark.parametrize("key", ["conv", "add"])
def test_arduino_sketch_compiles_as_cpp_and_prints_the_reference_output(models, tmp_path, key):
    """The sketch is C++ (as Arduino builds it: the .ino with Arduino.h, the library's .c files
    as C with src/ on the include path), run on the host with a stub Serial."""
    outdir, tflite = models[key]
    name = json.loads((outdir / "manifest.json").read_text())["name"]
    lib = tmp_path / "lib"
    export(outdir, "arduino", lib)
    (tmp_path / "stub").mkdir()
    (tmp_path / "stub" / "Arduino.h").write_text(_ARDUINO_STUB)
    (tmp_path / "main.cpp").write_text("StubSerial Serial;\nvoid setup();\n"
                                       "int main() { setup(); return 0; }\n")
    objs = []
    for c in sorted((lib / "src").rglob("*.c")):
        obj = tmp_path / f"{c.stem}.o"
        _sh(["gcc", "-std=c99", *WERROR.split(), "-O2", f"-I{lib / 'src'}", "-c", c, "-o", obj])
        objs.append(obj)
    sketch = lib / "examples" / "Inference" / "Inference.ino"
    exe = tmp_path / "sketch"
    _sh(["g++", "-std=c++11", *WERROR.split(), "-x", "c++", sketch, "-x", "c++",
         tmp_path / "main.cpp", "-x", "none", *objs, f"-I{tmp_path / 'stub'}",
         f"-I{lib / 'src'}", "-include", "Arduino.h", "-o", exe])
    _assert_prints_reference(_sh([exe]), name, outdir, tflite)


def test_arduino_names(models, tmp_path, capsys):
    outdir, _ = models["conv"]
    lib = tmp_path / "lib"
    export(outdir, "arduino", lib, meta=Meta(name="Net Model 2"))  # spaces are allowed
    assert _properties(lib / "library.properties")["name"] == "Net Model 2"
    for bad in ("Arduino_net", "_net", "net/x", "1.2", "x" * 64):
        code, _, err = _run(capsys, "export", outdir, "--format", "arduino", "-o",
                            tmp_path / "bad", "--lib-name", bad)
        assert code == 2 and "--lib-name" in _one_line_error(err), bad
    code, _, err = _run(capsys, "export", outdir, "--format", "arduino", "-o",
                        tmp_path / "my lib")
    assert code == 2 and "folder name" in _one_line_error(err)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "my lib").exists()


# ---------------------------------------------------------------- zephyr


def test_zephyr_module_structure(models, tmp_path):
    outdir, _ = models["conv_m4"]
    mod = tmp_path / "mod"
    export(outdir, "zephyr", mod)
    meta = yaml.safe_load((mod / "zephyr" / "module.yml").read_text())
    assert meta["name"] == "net"
    cmake_dir = mod / meta["build"]["cmake"]
    assert (cmake_dir / "CMakeLists.txt").is_file() and (mod / meta["build"]["kconfig"]).is_file()
    cm = (cmake_dir / "CMakeLists.txt").read_text()
    body = re.search(r"^if\(CONFIG_NET\)\n(.*?)^endif\(\)", cm, re.M | re.S)
    assert body, cm
    body = body.group(1)
    assert re.search(r"^\s+zephyr_library\(\)$", body, re.M)
    sources = re.search(r"zephyr_library_sources\((.*?)\)", body, re.S).group(1).split()
    assert sorted(sources) == ["src/net.c", "src/net_weights.c"]
    assert all((cmake_dir / s).is_file() for s in sources)
    inc = re.search(r"zephyr_include_directories\((\S+)\)", body).group(1)
    assert sorted(p.name for p in (cmake_dir / inc).iterdir()) == ["net.h"]
    kconfig = (mod / meta["build"]["kconfig"]).read_text()
    assert re.search(r"^config NET\n\tbool \"[^\"]+\"\n\thelp\n", kconfig, re.M)
    assert "builds\n\t  only for that core" in kconfig  # dsp kernels


def test_zephyr_module_name_rules(models, tmp_path, capsys):
    outdir, _ = models["conv"]
    from tinycompress.export import zephyr

    assert zephyr.default_name("My__Net_") == "my-net"
    for bad in ("Net", "-net", "net-", "net_x"):
        code, _, err = _run(capsys, "export", outdir, "--format", "zephyr", "-o",
                            tmp_path / "m", "--lib-name", bad)
        assert code == 2 and "Zephyr module name" in _one_line_error(err)


# ---------------------------------------------------------------- platformio


def test_platformio_library_json(models, tmp_path):
    outdir, tflite = models["conv"]
    lib = tmp_path / "lib"
    export(outdir, "platformio", lib, meta=Meta(version="2.1.0-rc.1"))
    man = json.loads((lib / "library.json").read_text())
    assert man["name"] == "net" and man["version"] == "2.1.0-rc.1"
    assert 0 < len(man["description"]) <= 255
    assert isinstance(man["keywords"], list) and all(man["keywords"])
    assert man["frameworks"] == "*" and man["platforms"] == "*"
    src, inc = lib / man["build"]["srcDir"], lib / man["build"]["includeDir"]
    assert (inc / man["headers"]).is_file() and sorted(p.name for p in inc.iterdir()) == ["net.h"]
    assert sorted(p.name for p in src.glob("*.c")) == ["net.c", "net_weights.c"]
    (example,) = man["examples"]
    base = lib / example["base"]
    assert all((base / f).is_file() for f in example["files"])
    ini = (base / "platformio.ini").read_text()
    assert "platform = native" in ini and "lib_deps = symlink://../.." in ini
    assert (base / "../..").resolve() == lib.resolve()
    # The example builds against the package as PlatformIO lays it out and prints the reference.
    exe = tmp_path / "example"
    _sh(["gcc", "-std=c99", *WERROR.split(), "-O2", f"-I{inc}", f"-I{src}",
         base / "src" / "main.c", *sorted(src.glob("*.c")), "-o", exe])
    _assert_prints_reference(_sh([exe]), "net", outdir, tflite)


def test_platformio_core_kernels_ship_no_host_example(models, tmp_path):
    lib = tmp_path / "lib"
    export(models["conv_m4"][0], "platformio", lib)
    man = json.loads((lib / "library.json").read_text())
    assert "examples" not in man and not (lib / "examples").exists()
    assert "mps2-an386" in man["description"]


def test_platformio_name_rules(models, tmp_path, capsys):
    from tinycompress.export import platformio

    assert platformio.default_name("_my__net_") == "my-net"
    for bad in ("my--net", "-net", "net_x", "n" * 51):
        code, _, err = _run(capsys, "export", models["conv"][0], "--format", "platformio",
                            "-o", tmp_path / "p", "--lib-name", bad)
        assert code == 2 and "PlatformIO library name" in _one_line_error(err)


# ---------------------------------------------------------------- all formats


@pytest.mark.parametrize("key", ["conv", "conv_m4"])
def test_every_header_is_cpp_safe(models, tmp_path, key):
    """Every generated header compiles as C++, and those declaring functions or data with
    external linkage wrap them in extern "C" (a sketch is C++)."""
    outdir, _ = models[key]
    manifest = json.loads((outdir / "manifest.json").read_text())
    for h in manifest["headers"]:
        text = (outdir / h).read_text()
        assert re.search(r'#ifdef __cplusplus\nextern "C" \{\n#endif', text), h
        assert re.search(r"#ifdef __cplusplus\n\}\n#endif", text), h
        probe = tmp_path / f"{Path(h).name}.cpp"
        probe.write_text(f'#include "{Path(h).name}"\n')
        _sh(["g++", "-std=c++11", *WERROR.split(), "-fsyntax-only",
             f"-I{(outdir / h).parent}", probe])


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_is_reproducible_and_replaces_its_own_export(models, tmp_path, fmt, capsys):
    outdir, _ = models["conv"]
    a, b = tmp_path / "a", tmp_path / "b"
    code, out, _ = _run(capsys, "export", outdir, "--format", fmt, "-o", a, "--zip", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["format"] == fmt and report["zip"] == str(a) + ".zip"
    assert MARKER in report["files"] and report["example_input"] == "vectors.npz[0]"
    export(outdir, fmt, b, zip=True)
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == report["files"]
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert _zip_members(tmp_path / "a.zip", "a/") == _zip_members(tmp_path / "b.zip", "b/")
    marker = json.loads((a / MARKER).read_text())
    assert marker["format"] == fmt and set(marker["files"]) == set(files) - {MARKER}
    # Exporting again over our own package replaces it, byte for byte the same; no temporary
    # directories are left.
    first_zip = (tmp_path / "a.zip").read_bytes()
    assert _run(capsys, "export", outdir, "--format", fmt, "-o", a, "--zip")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "a.zip", "b", "b.zip"]
    assert (tmp_path / "a.zip").read_bytes() == first_zip


def _zip_members(path: Path, prefix: str) -> list[tuple]:
    """A zip's members (name below `prefix`, time stamp, attributes, contents), in order."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        assert all(i.filename.startswith(prefix) for i in infos)
        return [(i.filename[len(prefix):], i.date_time, i.external_attr, z.read(i))
                for i in infos]


def _zip_members(path: Path, root: str) -> list[tuple]:
    """A zip's members in order: name below `root`, date, mode and content (the compressed
    stream may hold any byte pattern, so the archives are compared member by member)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return [(i.filename.removeprefix(root), i.date_time, i.external_attr, z.read(i))
                for i in z.infolist()]


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_errors_are_one_line_and_write_nothing(models, tmp_path, capsys):
    outdir, _ = models["conv"]
    dest = tmp_path / "dest"

    code, _, err = _run(capsys, "export", tmp_path / "nowhere", "--format", "cmake", "-o", dest)
    assert code == 2 and "compile" in _one_line_error(err)
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "export", tmp_path / "empty", "--format", "cmake", "-o", dest)
    assert code == 2 and "manifest.json" in _one_line_error(err)
    code, _, err = _run(capsys, "export", outdir, "--format", "makefile", "-o", dest)
    assert code == 2 and "unknown export format 'makefile'" in _one_line_error(err)
    assert "cmake, arduino, zephyr, platformio" in err
    code, _, err = _run(capsys, "export", outdir, "--format", "cmake", "-o", dest,
                        "--lib-version", "1.0")
    assert code == 2 and "semantic version" in _one_line_error(err)
    assert not dest.exists()

    # A directory that is not empty and not ours is left alone.
    theirs = tmp_path / "theirs"
    (theirs / "src").mkdir(parents=True)
    (theirs / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    code, _, err = _run(capsys, "export", outdir, "--format", "zephyr", "-o", theirs)
    assert code == 2 and "not written by tinycompress" in _one_line_error(err)
    assert _tree(theirs) == {"src/main.c": b"int main(void) { return 0; }\n"}
    code, _, err = _run(capsys, "export", outdir, "--format", "zephyr", "-o", outdir)
    assert code == 2 and "not written by tinycompress" in _one_line_error(err)

    # Our own export that gained a user's file is not replaced.
    ours = tmp_path / "ours"
    export(outdir, "cmake", ours)
    (ours / "src" / "extra.c").write_text("/* mine */\n")
    before = _tree(ours)
    code, _, err = _run(capsys, "export", outdir, "--format", "cmake", "-o", ours)
    assert code == 2 and "extra.c was not written by tinycompress export" in _one_line_error(err)
    assert _tree(ours) == before

    # A zip that is not ours is refused before the package is written.
    (tmp_path / "z.zip").write_bytes(b"not a zip")
    code, _, err = _run(capsys, "export", outdir, "--format", "arduino", "-o", tmp_path / "z",
                        "--zip")
    assert code == 2 and "z.zip exists" in _one_line_error(err)
    assert not (tmp_path / "z").exists()
    # An empty directory is fine.
    (tmp_path / "fresh").mkdir()
    code = _run(capsys, "export", outdir, "--format", "platformio", "-o", tmp_path / "fresh")[0]
    assert code == 0
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
