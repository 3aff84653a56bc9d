"""The typed results: the committed JSON Schemas are the generated ones, the CLI's --json
outputs validate against them, and to_json/from_json round-trip."""

import json
from pathlib import Path

import jsonschema
import pytest

from tinycompress.cli import main
from tinycompress.results import RESULTS, CheckResult, CompileResult, ExportResult, \
    VerifyResult, main as results_main, schema_text

from optest import QEMU_MARKS
from test_reader_robust import TFLM

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schema"
HELLO = TFLM / "hello_world_int8.tflite"


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_committed_schema_is_the_generated_one(name):
    path = SCHEMAS / f"{name}.json"
    assert path.read_text() == schema_text(name), \
        f"{path} is stale: run python -m tinycompress.results --schema docs/schema"
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    fields = RESULTS[name].__dataclass_fields__
    assert set(schema["properties"]) == {k for k, f in fields.items() if f.metadata["json"]}
    assert all(p["description"] for p in schema["properties"].values())


def test_schema_command_writes_every_schema(tmp_path):
    assert results_main(["--schema", str(tmp_path)]) == 0
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(RESULTS)
    assert results_main(["--bogus"]) == 2


def test_from_json_refuses_unknown_keys():
    with pytest.raises(ValueError, match="unknown keys bogus"):
        VerifyResult.from_json({"bogus": 1})


def _json(capsys, *args) -> dict:
    code = main([str(a) for a in args] + ["--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.mark.skipif(not HELLO.exists(), reason=f"{HELLO} not present")
def test_cli_json_validates_and_round_trips(tmp_path, capsys):
    out = tmp_path / "out"
    compiled = _json(capsys, "compile", HELLO, "-o", out)
    verified = _json(capsys, "verify", out, "--vectors", "20")
    exported = _json(capsys, "export", out, "--format", "cmake", "-o", tmp_path / "pkg", "--zip")
    for doc, cls in ((compiled, CompileResult), (verified, VerifyResult),
                     (exported, ExportResult)):
        jsonschema.validate(doc, cls.schema())
        assert cls.from_json(doc).to_json() == doc
    assert compiled["ops"] == {"FULLY_CONNECTED": 3} and verified["bit_exact"]
    assert verified["vectors"] == 20 and "accuracy" not in verified
    assert exported["zip"] == str(tmp_path / "pkg.zip")
    bad = dict(verified, bit_exact="yes")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, VerifyResult.schema())


@pytest.mark.skipif(not HELLO.exists(), reason=f"{HELLO} not present")
@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_qemu_verify_and_check_json_validate(tmp_path, capsys):
    out = tmp_path / "out"
    _json(capsys, "compile", HELLO, "-o", out, "--board", "mps2-an386")
    verified = _json(capsys, "verify", out, "--target", "qemu", "--board", "mps2-an386",
                     "--vectors", "4")
    jsonschema.validate(verified, VerifyResult.schema())
    assert verified["instructions_per_inference"] > 0 and len(verified["layers"]) == 3
    checked = _json(capsys, "check", out, "--board", "mps2-an386", "--max-latency-ms", "100")
    jsonschema.validate(checked, CheckResult.schema())
    result = CheckResult.from_json(checked)
    assert result.ok and [c.name for c in result.checks] == ["flash", "ram", "latency"]
    assert result.to_json() == checked


def test_import_is_light_and_api_names_stay_functions():
    import subprocess
    import sys

    code = ("import sys, tinycompress; assert 'numpy' not in sys.modules, 'numpy'; "
            "import tinycompress.check, tinycompress.verify, tinycompress.export, "
            "tinycompress.compress.pipeline; "
            "from tinycompress.check import human_bytes; "
            "assert all(callable(getattr(tinycompress, n)) and "
            "getattr(tinycompress, n).__module__ == 'tinycompress.api' for n in tinycompress.API); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
