"""compile: model file -> OUTDIR with C sources, manifest.json and the INT8 .tflite reference.

The pipeline: frontend -> IR -> passes -> planner + lowering -> emitter -> atomic write.
OUTDIR's layout is outdir.py's: the generated C in OUTDIR/src/, the reference model, vectors and
manifest at the top."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import passes
from .datasets import load_npz
from .vectors import quantize_input
from .emit import emit, validate_name
from .errors import TinyCompressError, UserError, one_line
from .frontends import load_tflite_bytes
from .frontends.quirks import quirk_notes
from .frontends.tflite import read_tflite
from .ops import Context
from .ops.base import kernel_families
from .outdir import MANIFEST, SRC_DIR, VECTORS_FILE

MAX_STORED_VECTORS = 100


@dataclass
class CompileResult:
    outdir: Path
    manifest: dict


def _first_error(stderr: str) -> str:
    """The compiler's first error line (not its "In file included from" preamble)."""
    lines = stderr.strip().splitlines()
    return next((ln for ln in lines if "error" in ln), lines[0] if lines else "")


def context_for(board: str | None, weights: str = "dense", optimize: str = "balanced") -> Context:
    """The lowering context for a board (its core's kernel families), or the portable one, with
    the weight format to store layers in (auto|dense|lut|sparse|huffman) and what auto ranks
    by (balanced|size|speed, ops/cost.py)."""
    from .ops._weight_formats import CHOICES
    from .ops.cost import OPTIMIZE

    if weights not in CHOICES:
        raise UserError(f"--weights '{weights}' is unknown: choose one of {', '.join(CHOICES)}")
    if optimize not in OPTIMIZE:
        raise UserError(f"--optimize '{optimize}' is unknown: choose one of {', '.join(OPTIMIZE)}")
    if board is None:
        return Context(weights=weights, optimize=optimize)
    from .boards import get_board

    b = get_board(board)
    return Context(core=b.core, families=kernel_families(b.core, b.dsp, b.mve), weights=weights,
                   optimize=optimize)


def compile_tflite(tflite: bytes, name: str = "model", board: str | None = None,
                   source: str = "model", weights: str = "dense",
                   optimize: str = "balanced") -> tuple[dict[str, bytes], dict]:
    """The generated files (name -> bytes) and manifest for INT8 TFLite bytes. Writes nothing.
    `weights` is the storage of layer weights (see tinycompress/ops/_weight_formats.py), auto
    ranked by `optimize` (ops/cost.py)."""
    name = validate_name(name)
    ctx = context_for(board, weights, optimize)
    sha = hashlib.sha256(tflite).hexdigest()
    result = _compile_graph(read_tflite(tflite, source), name, ctx, sha, source)
    files = {f"{SRC_DIR}/{k}": v.encode() for k, v in result.files.items()}
    manifest = result.manifest
    for key in ("sources", "headers"):
        manifest[key] = [f"{SRC_DIR}/{f}" for f in manifest[key]]
    manifest["source"] = source
    # The reference interpreter runs a copy with the harmless quirks normalised (reference.py).
    manifest["reference_normalised"] = quirk_notes(tflite)
    manifest["board"] = board
    manifest["weights"] = weights
    if weights == "auto":
        manifest["optimize"] = optimize
    manifest["tflite"] = f"{name}.tflite"
    files[manifest["tflite"]] = tflite
    manifest.update(code_size(files, manifest, board))
    return files, manifest


def _compile_graph(graph, name: str, ctx: Context, sha: str, source: str):
    """Passes, planning, lowering and emission of a graph the reader accepted. Each op's check,
    lowering and rendering has its own boundary (emit.op_boundary, naming the op); an exception
    other than a TinyCompressError escaping the rest (a pass, the planner) on such a model becomes
    a UserError here, so that no model makes the command end in a traceback."""
    try:
        return emit(passes.run(graph), name=name, ctx=ctx, model_sha256=sha)
    except TinyCompressError:
        raise
    except Exception as e:
        reason = one_line(f"{type(e).__name__}: {e}", 300)
        raise UserError(f"{source}: cannot compile: {reason}; this model is malformed or "
                        "unusual; report it with the --debug output") from e


def code_size(files: dict[str, bytes], manifest: dict, board: str | None = None) -> dict:
    """Flash of the generated code + weights, measured by compiling it with arm-none-eabi-gcc -O2
    for the board's core (a Cortex-M4 when no board is given) when that compiler is present;
    otherwise an estimate, said as such."""
    weights = manifest["weights_bytes"]
    arena = manifest["arena_bytes"] + manifest.get("state_bytes", 0)
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        code = 64 + 160 * len(manifest["layers"])
        return {"flash_bytes": weights + code, "code_bytes": code, "ram_bytes": arena,
                "flash_source": "estimate (arm-none-eabi-gcc not found)"}
    from elftools.elf.elffile import ELFFile
    from elftools.elf.constants import SH_FLAGS

    if board is not None:
        from .boards import get_board
        from .targets.cortexm import core_flags

        b = get_board(board)
        cpu_flags, cpu_name = core_flags(b), b.core
    else:
        cpu_flags = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
        cpu_name = "cortex-m4"
    flash = code = ram = 0
    with tempfile.TemporaryDirectory(prefix="tc-size-") as tmp:
        for fname, data in files.items():
            Path(tmp, fname).parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, fname).write_bytes(data)
        for src in manifest["sources"]:
            obj = Path(tmp, src).with_suffix(".o")
            proc = subprocess.run(
                [gcc, *cpu_flags, "-std=c99", "-O2", "-ffunction-sections", "-fdata-sections", "-c", src,
                 "-o", str(obj)],
                cwd=tmp, capture_output=True, text=True, stdin=subprocess.DEVNULL,
            )
            if proc.returncode != 0:
                raise UserError(f"arm-none-eabi-gcc failed on generated {src}: {_first_error(proc.stderr)}")
            with open(obj, "rb") as f:
                for sec in ELFFile(f).iter_sections():
                    flags = sec["sh_flags"]
                    if not flags & SH_FLAGS.SHF_ALLOC:
                        continue
                    size = sec["sh_size"]
                    if sec["sh_type"] == "SHT_NOBITS":
                        ram += size
                    else:
                        flash += size
                        if flags & SH_FLAGS.SHF_EXECINSTR:
                            code += size
                        if flags & SH_FLAGS.SHF_WRITE:
                            ram += size
    return {"flash_bytes": flash, "code_bytes": code, "ram_bytes": ram,
            "flash_source": f"measured: arm-none-eabi-gcc -O2 {cpu_name} objects"}


def _owned_files(outdir: Path) -> set[str]:
    """Files a previous run of tinycompress wrote into outdir (listed in its manifest)."""
    path = outdir / MANIFEST
    if not path.exists():
        return set()
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(old, dict) or "tinycompress" not in old:
        return set()
    return set(old.get("files", {})) | {MANIFEST}


def write_outdir(outdir: Path, files: dict[str, bytes]) -> None:
    """Write all files (names are paths relative to outdir) or none: everything is written into a
    temporary directory first; files the tool did not write are never overwritten; files an
    earlier run wrote that this one does not are removed (so nothing stale is left)."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise UserError(f"output {outdir} exists and is not a directory: choose another -o")
    owned = _owned_files(outdir) if outdir.exists() else set()
    _refuse_clashes(outdir, files, owned)
    parent = outdir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.tmp-", dir=parent))
    try:
        for fname, data in files.items():
            (tmp / fname).parent.mkdir(parents=True, exist_ok=True)
            (tmp / fname).write_bytes(data)
        if not outdir.exists():
            os.replace(tmp, outdir)
            return
        for fname in files:
            (outdir / fname).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / fname, outdir / fname)
        _remove_stale(outdir, owned - set(files))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def recognise(model: Path, weights: str | None, per_channel: bool | None) -> tuple[str, bool, dict]:
    """(weights, per_channel, what was recognised) for `model`: the flags given, else what its
    marker says a training command did (frontends/marker.py), else dense and per channel."""
    from .frontends import marker

    m = marker.read(model)
    chosen = marker.compile_defaults(m)
    got = {"weights": weights, "per_channel": per_channel}
    out = {k: got[k] if got[k] is not None else chosen.get(k, d)
           for k, d in (("weights", "dense"), ("per_channel", True))}
    info = {} if m is None else {
        "steps": m["steps"], "pruned_layers": sorted(m["pruned"]),
        "shared_layers": sorted(m["shared"]), "grid": m["grid"],
        "qat_per_channel": m["qat_per_channel"],
        "chosen": {k: v for k, v in chosen.items() if got[k] is None},
        "overridden": sorted(k for k in chosen if got[k] is not None)}
    return out["weights"], out["per_channel"], info


def _refuse_clashes(outdir: Path, files: dict[str, bytes], owned: set[str]) -> None:
    """UserError when writing `files` would replace a file tinycompress did not write, or needs
    a directory where a file stands."""
    for f in sorted(files):
        path = outdir / f
        for up in list(reversed(path.relative_to(outdir).parents))[1:]:
            if (outdir / up).exists() and not (outdir / up).is_dir():
                raise UserError(f"{outdir / up} exists and is not a directory: choose an empty "
                                "or new output directory")
        if path.exists() and (f not in owned or path.is_dir()):
            raise UserError(f"{path} exists and was not written by tinycompress: "
                            "choose an empty or new output directory")


def _remove_stale(outdir: Path, stale: set[str]) -> None:
    """Remove files an earlier run wrote (and the directories they leave empty)."""
    for f in sorted(stale):
        path = outdir / f
        if path.is_file() and outdir.resolve() in path.resolve().parents:
            path.unlink()
            for up in path.relative_to(outdir).parents:
                d = outdir / up
                if d == outdir or any(d.iterdir()):
                    break
                d.rmdir()


def compile_model(model: Path, outdir: Path, calibration: Path | None = None,
                  name: str = "model", board: str | None = None,
                  weights: str | None = None, per_channel: bool | None = None,
                  optimize: str = "balanced", weight_bits: int = 8,
                  weight_method: str = "rtn") -> CompileResult:
    """Compile a model file into outdir. `weights` and `per_channel` None: as the model's
    marker says (a model `compress`, `qat` or `distill` wrote), else dense and per channel.
    `weight_bits` 4: the INT8 model's weight layers quantised onto 4-bit grids
    (compress/int4.py, `weight_method` rtn or gptq) and stored as int4 unless `weights` names
    another format than dense."""
    from .compress.int4 import check_method, check_weight_bits

    model, outdir = Path(model), Path(outdir)
    validate_name(name)
    weight_bits = check_weight_bits(weight_bits)
    check_method(weight_method)
    if weight_bits == 8 and weight_method != "rtn":
        raise UserError(f"--weight-method {weight_method} applies to 4-bit weights: add "
                        "--weight-bits 4")
    weights, per_channel, recognised = recognise(model, weights, per_channel)
    context_for(board, weights, optimize)  # an unknown board or format is refused before work
    x_cal = load_npz(calibration)[0] if calibration is not None else None
    tflite = load_tflite_bytes(model, x_cal, per_channel=per_channel)
    if weight_bits == 4:
        from .compress.int4 import quantize_int4

        tflite, _ = quantize_int4(tflite, weight_method, x_cal, source=model.name)
        weights = "int4" if weights == "dense" else weights
    files, manifest = compile_tflite(tflite, name=name, board=board, source=model.name,
                                     weights=weights, optimize=optimize)
    manifest["per_channel_weights"] = per_channel
    if recognised:
        manifest["recognised"] = recognised
    if weight_bits == 4:
        manifest["weight_bits"], manifest["weight_method"] = 4, weight_method
    if x_cal is not None:
        inp = manifest["input"]
        if inp["scale"] is not None:
            sample = x_cal[:MAX_STORED_VECTORS].reshape(min(len(x_cal), MAX_STORED_VECTORS), -1)
            if sample.shape[1] == inp["size"]:
                q = quantize_input(sample, inp)
                buf = _npz_bytes(x=q)
                files[VECTORS_FILE] = buf
                manifest["vectors"] = VECTORS_FILE
    manifest["files"] = {f: hashlib.sha256(d).hexdigest() for f, d in sorted(files.items())}
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    write_outdir(outdir, files)
    return CompileResult(outdir=outdir, manifest=manifest)


def _npz_bytes(**arrays) -> bytes:
    """np.savez output is reproducible only with fixed zip timestamps; write it ourselves."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in sorted(arrays.items()):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, buf.getvalue())
    return out.getvalue()


def read_manifest(outdir: Path) -> dict:
    path = Path(outdir) / MANIFEST
    if not path.exists():
        raise UserError(f"{outdir} has no {MANIFEST}: run 'tinycompress compile MODEL -o "
                        f"{outdir}' first")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as e:
        raise UserError(f"{path} is not valid JSON ({e}): compile again") from e
    for key in ("name", "sources", "inputs", "outputs", "tflite"):
        if key not in manifest:
            raise UserError(f"{path} lacks '{key}': compile again with this tinycompress")
    return manifest
