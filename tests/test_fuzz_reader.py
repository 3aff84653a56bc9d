"""The reader fuzzer (tests/fuzz/fuzz_reader.py): a short coverage-guided run of a few thousand
executions, every seed through the fuzz target, and every input the fuzzer found (kept in
tests/fuzz/regressions/) ending in a compile or a UserError."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent / "fuzz"
sys.path.insert(0, str(FUZZ))

from seeds import builder_seeds, all_seeds  # noqa: E402
from target import CONTEXTS, compile_bytes  # noqa: E402
from tinycompress.errors import UserError  # noqa: E402


@pytest.mark.parametrize("context", range(len(CONTEXTS)))
def test_every_operator_seed_compiles_and_real_seeds_end_or_are_refused(context):
    for data in builder_seeds().values():
        compile_bytes(data, context)
    for data in all_seeds().values():
        try:
            compile_bytes(data, context)
        except UserError:
            pass


@pytest.mark.parametrize("path", sorted((FUZZ / "regressions").glob("*")), ids=lambda p: p.name)
@pytest.mark.parametrize("context", range(len(CONTEXTS)))
def test_inputs_found_by_fuzzing_compile_or_are_refused(path, context):
    """crash-like names: inputs that crashed a pass or the emitter (now refused); opcompile-*:
    inputs whose op check let through what its lowering could not handle (emit's op boundary
    refuses them, naming the op; a check that refuses them, or a lowering that handles them,
    is as good)."""
    try:
        compile_bytes(path.read_bytes(), context)
    except UserError:
        pass


def test_short_fuzz_run(tmp_path):
    """3,000 executions from the seeds (about 10 s, plus 5 s of instrumentation): no input ends
    in anything but a UserError."""
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    proc = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_reader.py"), "-runs=3000", "-seed=7", "-timeout=30",
         # (the process holds TensorFlow's libraries: libFuzzer's default 2 GB is too tight)
         "-rss_limit_mb=8192", "-max_total_time=100", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=170)
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    assert proc.returncode == 0 and done, proc.stderr[-3000:]
    assert int(done.group(1)) >= 1000, done.group(0)
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))
