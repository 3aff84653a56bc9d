"""The operator table (tinycompress/ops/table.py) is the one declaration of what is supported:
every entry's module registers that kind, its templates and tests exist, and the README's table
is the generated one."""

from pathlib import Path

import pytest

from tinycompress.emit import templates_dir
from tinycompress.ops import REGISTRY
from tinycompress.ops.table import OPERATORS, Refused, Supported, supported, with_table

ROOT = Path(__file__).resolve().parents[1]


def test_registry_is_the_table():
    assert set(REGISTRY) == set(supported())


@pytest.mark.parametrize("kind", sorted(supported()))
def test_entry_files_exist(kind):
    e = supported()[kind]
    assert (ROOT / "tinycompress" / "ops" / f"{e.module}.py").is_file()
    for t in e.tests:
        assert (ROOT / "tests" / t).is_file(), f"{kind}: test file {t} missing"
    for t in e.templates:
        found = [p for p in [templates_dir() / t, *(templates_dir() / "cores").glob(f"*/{t}")]
                 if p.is_file()]
        assert found, f"{kind}: template {t} found neither portable nor per core"


def test_refusals_say_why():
    for kind, e in OPERATORS.items():
        assert isinstance(e, (Supported, Refused))
        if isinstance(e, Refused):
            assert len(e.why) > 10, kind


def test_readme_table_is_generated():
    readme = (ROOT / "README.md").read_text()
    assert readme == with_table(readme), (
        "README's operator table is stale: python -m tinycompress.ops.table --write README.md")


def test_unsupported_operator_names_the_reason():
    from tflite_builder import T, model
    from optest import compile_problems

    m = model("WHILE", [T((1, 4), scale=0.1)], [T((1, 4), scale=0.1)])
    (problem,) = compile_problems(m)
    assert "operator WHILE is not supported" in problem and "control flow" in problem
