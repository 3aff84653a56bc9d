"""The reader fuzzer (tests/fuzz/fuzz_reader.py): a short coverage-guided run of a few thousand
executions, every seed through the fuzz target, and every crash the fuzzer found, kept in
tests/fuzz/regressions/, refused with a UserError."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent / "fuzz"
sys.path.insert(0, str(FUZZ))

from seeds import all_seeds  # noqa: E402
from tinycompress.errors import UserError  # noqa: E402


def compile_bytes(data: bytes) -> None:
    """The fuzz target's pipeline, without atheris' instrumentation (imported lazily there)."""
    from tinycompress import passes
    from tinycompress.compiler import context_for
    from tinycompress.emit import emit
    from tinycompress.frontends.tflite import read_tflite

    graph = passes.run(read_tflite(data, "fuzz.tflite"))
    emit(graph, name="m", ctx=context_for(None, "auto"), model_sha256="")


def test_every_seed_reaches_the_end_or_a_refusal():
    compiled = 0
    for name, data in all_seeds().items():
        try:
            compile_bytes(data)
            compiled += 1
        except UserError:
            pass
    assert compiled >= 17  # one per operator seed at least


@pytest.mark.parametrize("path", sorted((FUZZ / "regressions").glob("*")), ids=lambda p: p.name)
def test_crashes_found_by_fuzzing_are_refused(path):
    with pytest.raises(UserError):
        compile_bytes(path.read_bytes())


def test_short_fuzz_run(tmp_path):
    """3,000 executions from the seeds (about 10 s, plus 5 s of instrumentation): no input ends
    in anything but a UserError."""
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    proc = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_reader.py"), "-runs=3000", "-seed=7", "-timeout=30",
         "-max_total_time=100", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=170)
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    assert proc.returncode == 0 and done, proc.stderr[-3000:]
    assert int(done.group(1)) >= 1000, done.group(0)
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))
