"""The compiled model an export packages: OUTDIR's manifest, its C files, the core it was compiled
for and one input vector for the package's example (the first stored calibration sample, else
zeros)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__
from ..compiler import read_manifest
from ..outdir import MANIFEST, VECTORS_FILE, public_header
from ..emit import c_array, templates_dir
from ..errors import UserError


@dataclass(frozen=True)
class ExampleBuffer:
    """One argument of PREFIX_invoke in an example program."""

    var: str  # the example's variable, e.g. example_input0
    ctype: str  # int8_t, int16_t, float
    size_macro: str  # its element count: PREFIX_INPUT_ELEMENTS / PREFIX_OUTPUT1_ELEMENTS
    size: int
    initializer: str  # C initializer body (inputs only), e.g. "    1, 2, 3,"
    label: str  # "output 0"


@dataclass(frozen=True)
class Model:
    outdir: Path
    manifest: dict
    name: str  # the C prefix
    files: dict[str, bytes]  # generated sources and headers by file name (OUTDIR/src/<name>)
    public_header: str  # PREFIX.h: the API; the other headers are private to the library
    core_flags: tuple[str, ...]  # the board's -mcpu/-mfpu/... when compiled with --board
    example_source: str  # where the example's input comes from: "vectors.npz[0]" or "zeros"
    example_inputs: tuple[ExampleBuffer, ...]
    example_outputs: tuple[ExampleBuffer, ...]

    @property
    def NAME(self) -> str:
        return self.name.upper()

    @property
    def sources(self) -> list[str]:
        return [Path(s).name for s in self.manifest["sources"]]

    @property
    def private_headers(self) -> list[str]:
        return [Path(h).name for h in self.manifest.get("headers", [])
                if Path(h).name != self.public_header]

    @property
    def sha256(self) -> str:
        return self.manifest.get("model_sha256") or hashlib.sha256(b"").hexdigest()

    @property
    def board(self) -> str | None:
        return self.manifest.get("board")

    @property
    def core(self) -> str | None:
        return self.manifest.get("core")

    @property
    def summary(self) -> str:
        """'3 layers, 6,912 MACs, 160 bytes of weights in flash, 80 bytes of static RAM'."""
        man = self.manifest
        n = len(man.get("layers") or [])
        return (f"{n} layer{'s' if n != 1 else ''}, {man.get('macs', 0):,} MACs, "
                f"{man.get('weights_bytes', 0):,} bytes of weights in flash, "
                f"{man.get('arena_bytes', 0) + man.get('state_bytes', 0):,} bytes of static RAM")

    @property
    def families(self) -> list[str]:
        """Core-specific kernel families (dsp, mve): the C then builds only for that core."""
        return list(self.manifest.get("kernel_families") or [])

    @property
    def version(self) -> str:
        return __version__

    @property
    def invoke_call(self) -> str:
        args = [b.var for b in self.example_inputs + self.example_outputs]
        return f"{self.name}_invoke({', '.join(args)})"


def load_model(outdir: Path | str) -> Model:
    """Reads a compiled OUTDIR; UserError (one line) when it is not one or files are missing."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise UserError(f"{outdir} is not a directory: run 'tinycompress compile MODEL -o "
                        f"{outdir}' first")
    manifest = read_manifest(outdir)
    name = manifest["name"]
    headers = manifest.get("headers") or [f"{name}.h"]
    files = {}
    for fname in list(manifest["sources"]) + list(headers):
        path = outdir / fname
        if not path.is_file():
            raise UserError(f"{path} listed in {MANIFEST} does not exist: compile again")
        files[Path(fname).name] = path.read_bytes()
    public = Path(public_header(manifest)).name
    source, vector = _example_vector(outdir, manifest)
    inputs = tuple(_buffer(name, spec, k, len(manifest["inputs"]), "input",
                           vector if k == 0 else None)
                   for k, spec in enumerate(manifest["inputs"]))
    outputs = tuple(_buffer(name, spec, k, len(manifest["outputs"]), "output", None)
                    for k, spec in enumerate(manifest["outputs"]))
    return Model(outdir=outdir, manifest=manifest, name=name, files=files, public_header=public,
                 core_flags=tuple(_core_flags(manifest.get("board"))), example_source=source,
                 example_inputs=inputs, example_outputs=outputs)


def _core_flags(board: str | None) -> list[str]:
    if board is None:
        return []
    from ..boards import get_board
    from ..targets.cortexm import core_flags

    return core_flags(get_board(board))


def _example_vector(outdir: Path, manifest: dict) -> tuple[str, np.ndarray | None]:
    """The first stored calibration sample for input 0 when vectors.npz holds one that fits."""
    stored = manifest.get("vectors") or VECTORS_FILE
    path = outdir / stored
    spec = manifest["inputs"][0]
    if not path.is_file():
        return "zeros", None
    try:
        with np.load(path) as z:
            x = z["x"]
    except (OSError, KeyError, ValueError):
        return "zeros", None
    if len(x) == 0 or x[0].size != spec["size"] or x.dtype != np.dtype(spec["dtype"]):
        return "zeros", None
    return f"{stored}[0]", np.asarray(x[0]).reshape(-1)


def _buffer(name: str, spec: dict, k: int, count: int, role: str,
            values: np.ndarray | None) -> ExampleBuffer:
    index = str(k) if count > 1 else ""
    init = "    0,"
    if values is not None:
        init = c_array(values) if values.dtype.kind in "iu" else "    " + ", ".join(
            f"{float(v)!r}f" for v in values) + ","
    return ExampleBuffer(var=f"example_{role}{k}", ctype=spec["ctype"],
                         size_macro=f"{name.upper()}_{role.upper()}{index}_ELEMENTS",
                         size=int(spec["size"]), initializer=init, label=f"{role} {k}")


@functools.cache
def environment() -> jinja2.Environment:
    """Jinja2 over templates/export/ (package metadata, build files and example programs)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "export")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, autoescape=False)


def render(template: str, **context) -> bytes:
    return environment().get_template(template).render(**context).encode()
