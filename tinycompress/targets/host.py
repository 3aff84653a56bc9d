"""The host target: build the generated C with the system gcc and run it on test vectors."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..emit import _environment
from ..errors import UserError, VerificationError
from ..outdir import include_dirs

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]


def build(outdir: Path, manifest: dict, workdir: Path, sanitize: bool = False,
          cc: str = "gcc") -> Path:
    """Compile model + harness into workdir/harness; raise VerificationError with gcc's words."""
    if shutil.which(cc) is None:
        raise UserError(f"C compiler '{cc}' not found: install gcc (apt-get install gcc)")
    name = manifest["name"]
    harness = _environment().get_template("harness_host.c.j2").render(
        name=name, inputs=manifest["inputs"], outputs=manifest["outputs"])
    (workdir / "harness.c").write_text(harness)
    sources = [str(Path(outdir) / s) for s in manifest["sources"]]
    exe = workdir / "harness"
    includes = [f"-I{d}" for d in include_dirs(Path(outdir), manifest)]
    cmd = [cc, *CFLAGS, *(SANITIZE if sanitize else []), *includes, *sources,
           str(workdir / "harness.c"), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise VerificationError(f"gcc failed on the generated code:\n{proc.stderr.strip()}")
    return exe


def run(outdir: Path, manifest: dict, inputs: np.ndarray, sanitize: bool = False,
        timeout: float = 600.0) -> np.ndarray:
    """Outputs (N, output_size) of the generated C for inputs (N, input_size): one-input,
    one-output models."""
    return run_multi(outdir, manifest, [inputs], sanitize, timeout)[0]


def run_multi(outdir: Path, manifest: dict, inputs: list[np.ndarray], sanitize: bool = False,
              timeout: float = 600.0) -> list[np.ndarray]:
    """Outputs [(N, size_k)] of the generated C for inputs [(N, size_j)], one array per model
    input and output, in order."""
    if len(inputs) != len(manifest["inputs"]):
        raise UserError(f"the model takes {len(manifest['inputs'])} inputs, got {len(inputs)}")
    count = len(inputs[0])
    packed = b"".join(
        b"".join(np.ascontiguousarray(x[v], dtype=spec["dtype"]).tobytes()
                 for x, spec in zip(inputs, manifest["inputs"]))
        for v in range(count)
    )
    with tempfile.TemporaryDirectory(prefix="tc-host-") as tmp:
        work = Path(tmp)
        exe = build(Path(outdir), manifest, work, sanitize=sanitize)
        (work / "in.bin").write_bytes(packed)
        env = {"ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "print_stacktrace=1",
               "PATH": "/usr/bin:/bin"}
        try:
            proc = subprocess.run([str(exe), str(work / "in.bin"), str(work / "out.bin"),
                                   str(count)], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            raise VerificationError(f"generated code did not finish within {timeout:.0f} s") from e
        if proc.returncode != 0:
            raise VerificationError(f"generated code exited with {proc.returncode}:\n"
                                    f"{proc.stderr.strip()[-4000:]}")
        raw = (work / "out.bin").read_bytes()
    outs = manifest["outputs"]
    row = sum(np.dtype(o["dtype"]).itemsize * o["size"] for o in outs)
    if len(raw) != row * count:
        raise VerificationError(f"generated code wrote {len(raw)} bytes, expected {row * count}")
    results, offset = [], 0
    per_vector = np.frombuffer(raw, dtype=np.uint8).reshape(count, row)
    for o in outs:
        nbytes = np.dtype(o["dtype"]).itemsize * o["size"]
        chunk = np.ascontiguousarray(per_vector[:, offset:offset + nbytes])
        results.append(chunk.view(o["dtype"]).reshape(count, o["size"]))
        offset += nbytes
    return results
