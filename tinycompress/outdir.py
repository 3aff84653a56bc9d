"""OUTDIR's layout, shared by the compiler that writes it and everything that reads it.

    OUTDIR/
      manifest.json     what was generated; "sources", "headers" and "files" are paths relative
                        to OUTDIR
      PREFIX.tflite     the INT8 reference model the C is checked against
      vectors.npz       quantised calibration samples for verify (when calibration data was given)
      src/              the generated C: PREFIX.h (the API), PREFIX.c, PREFIX_weights.[ch],
                        tc_runtime.h; add it to the include path and compile its .c files
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"
VECTORS_FILE = "vectors.npz"
SRC_DIR = "src"


def include_dirs(outdir: Path, manifest: dict) -> list[Path]:
    """The directories holding the generated headers (OUTDIR/src/), for the compiler's -I."""
    dirs = {Path(h).parent for h in manifest.get("headers") or manifest["sources"]}
    return [Path(outdir) / d for d in sorted(dirs)]


def public_header(manifest: dict) -> str:
    """The path (relative to OUTDIR) of the API header PREFIX.h."""
    headers = list(manifest.get("headers") or [f"{manifest['name']}.h"])
    wanted = f"{manifest['name']}.h"
    return next((h for h in headers if Path(h).name == wanted), headers[0])
