"""The instruction-count regression guard: AD and KWS (the two MLPerf Tiny models that run
in seconds) compiled for the Cortex-M4F, run under QEMU with exact counts, bit-exact, and no
more than 2% above benchmarks/records/instructions-m4.json (`python benchmarks/cortexm.py
--boards mps2-an386 --record ...` rewrites the record; VWW and IC are measured there only)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from optest import QEMU_MARKS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import cortexm as bench  # noqa: E402

pytestmark = QEMU_MARKS
RECORD = bench.RECORDS / "instructions-m4.json"
BOARD = "mps2-an386"


@pytest.mark.parametrize("optimize", ["balanced", "speed"])
@pytest.mark.parametrize("model", ["ad", "kws"])
def test_instructions_within_two_percent_of_the_record(tmp_path, model, optimize):
    if not (bench.MLPERF / bench.MODELS[model]).exists():
        pytest.skip(f"{bench.MLPERF} has no {bench.MODELS[model]} (shared/ models)")
    record = json.loads(RECORD.read_text())
    row = bench.measure(model, BOARD, tmp_path / model, optimize=optimize)
    key = bench.record_key(row)
    assert key in record[model], f"{RECORD} has no {model} on {key}"
    assert row["bit_exact"]
    assert bench.check_record([row], record) == []


def test_the_guard_flags_a_rise_above_two_percent():
    row = {"model": "ad", "board": BOARD, "instructions": 1021}
    assert bench.check_record([row], {"ad": {BOARD: 1000}}) != []
    assert bench.check_record([dict(row, instructions=1020)], {"ad": {BOARD: 1000}}) == []
    fast = dict(row, optimize="speed")
    assert bench.check_record([fast], {"ad": {f"{BOARD} --optimize speed": 1000}}) != []
    assert bench.check_record([fast], {"ad": {BOARD: 10**6}}) == []  # not the default's count
