"""Coverage-guided fuzzing of the .tflite reader, the passes and the lowering (atheris, libFuzzer).

    .venv/bin/python tests/fuzz/fuzz_reader.py -runs=1000000 [libFuzzer flags] [CORPUS_DIR ...]
    .venv/bin/python tests/fuzz/fuzz_reader.py crash-1234abcd      # replay one input

Every input is taken as a .tflite file and goes through `read_tflite`, `passes.run` and `emit`
(each op's check and lowering, the planner, the templates; no C compiler), in one of three
lowering contexts picked by the input's length (tests/fuzz/target.py: portable dense, portable
`--weights auto`, a Cortex-M4 board with `--weights lut`). A `UserError` (UnsupportedModelError included) is the
proper end for a bad model; anything else is a crash: libFuzzer prints the traceback, writes the
input to <artifact_prefix>crash-<sha1> and stops. With `--strict`, an `OpCompileError` is a
crash too: an exception that escaped an op's check or lowering and that emit's op boundary turned
into a UserError, i.e. a check that should have refused the model.

Half of the mutations of inputs up to 32 kB are libFuzzer's (bytes); the other half are structural
(tests/fuzz/structure.py: unpack, change a shape, type, quantisation, constant, operator input,
option, the operator itself or the graph's inputs, pack), which keep the file well-formed so that
the passes and the lowerings see valid but hostile models.

Options of this script (the others go to libFuzzer, see `-help=1`):
  --strict       treat OpCompileError as a crash
  --catalogue    keep going on OpCompileError, but log each new kind (op, exception, where it was
                 raised) to <artifact_prefix>opcompile.log with the input as opcompile-<hash>
  --bytes-only   only libFuzzer's byte mutations
  --all-seeds    seed with every real model, not only those under 130 kB (slower executions)
  --no-seeds     do not write the seed models into the corpus

Without a CORPUS_DIR the corpus is runs/fuzz_reader/corpus/ (kept between runs; runs/ is not
committed) and crashes go to runs/fuzz_reader/. The seeds (tests/fuzz/seeds.py: one small model per
supported operator, and the small TFLM and MLPerf Tiny models) are written into the first corpus
directory."""

from __future__ import annotations

import hashlib
import random
import sys
import traceback
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["tinycompress", "flatbuffers"]):
    from tinycompress.errors import OpCompileError, UserError
    from tinycompress.frontends.flatbuffer_check import verify_tflite
    from target import compile_bytes

import seeds  # noqa: E402  (imports tests/tflite_builder.py)
import structure  # noqa: E402

OWN_FLAGS = ("--strict", "--all-seeds", "--no-seeds", "--bytes-only", "--catalogue")
STRICT = False
CATALOGUE: Path | None = None  # where OpCompileError kinds are logged (--catalogue)
SEEN: set[str] = set()
STRUCTURAL_MAX = 32_000


def test_one_input(data: bytes) -> None:
    try:
        compile_bytes(data)
    except OpCompileError as e:
        if STRICT:
            raise
        if CATALOGUE is not None:
            catalogue(e, data)
    except UserError:
        pass


def catalogue(e: OpCompileError, data: bytes) -> None:
    """Log a new kind of OpCompileError: the op kind, the exception and the innermost
    tinycompress frame that raised it."""
    cause = e.__cause__
    frames = traceback.extract_tb(cause.__traceback__) if cause is not None else []
    ours = [f for f in frames if "tinycompress" in f.filename] or frames[-1:]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    kind = f"{e.op.split(' ')[0]} {type(cause).__name__} at {where}"
    if kind in SEEN:
        return
    SEEN.add(kind)
    digest = hashlib.sha1(data).hexdigest()[:12]
    (CATALOGUE.parent / f"opcompile-{digest}").write_bytes(data)
    with open(CATALOGUE, "a") as log:
        log.write(f"{kind}\topcompile-{digest}\t{e}\n")


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """A structural mutation of a well-formed model (up to STRUCTURAL_MAX bytes: unpacking and
    packing a larger one costs more than the run) half of the time, else libFuzzer's."""
    rng = random.Random(seed)
    if len(data) <= STRUCTURAL_MAX and rng.random() < 0.5:
        try:
            verify_tflite(data)
        except UserError:
            pass
        else:
            out = structure.mutate_model(data, rng)
            if out is not None and len(out) <= max_size:
                return out
    return atheris.Mutate(data, max_size)


def write_seeds(corpus: Path, all_seeds: bool) -> int:
    corpus.mkdir(parents=True, exist_ok=True)
    found = seeds.all_seeds(None if all_seeds else seeds.SMALL_REAL)
    for name, data in found.items():
        path = corpus / f"seed-{name}-{hashlib.sha1(data).hexdigest()[:8]}"
        if not path.exists():
            path.write_bytes(data)
    return len(found)


def main(argv: list[str]) -> None:
    global STRICT, CATALOGUE
    own = {a for a in argv[1:] if a in OWN_FLAGS}
    args = [argv[0]] + [a for a in argv[1:] if a not in OWN_FLAGS]
    STRICT = "--strict" in own
    positional = [a for a in args[1:] if not a.startswith("-")]
    if not positional:
        out = ROOT / "runs" / "fuzz_reader"
        positional = [str(out / "corpus")]
        args += [positional[0], f"-artifact_prefix={out}/"]
        out.mkdir(parents=True, exist_ok=True)
    corpus = Path(positional[0])
    if "--catalogue" in own:
        prefix = next((a.split("=", 1)[1] for a in args if a.startswith("-artifact_prefix=")),
                      "./")
        CATALOGUE = Path(prefix + "opcompile.log")
    if "--no-seeds" not in own and (corpus.is_dir() or not corpus.exists()):
        print(f"fuzz_reader: {write_seeds(corpus, '--all-seeds' in own)} seeds in {corpus}",
              file=sys.stderr)
    mutator = None if "--bytes-only" in own else custom_mutator
    atheris.Setup(args, test_one_input, custom_mutator=mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
