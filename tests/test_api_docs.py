"""The Python API's documentation runs: every ```python block of docs/api.md, in order, in one
namespace, in an empty directory (as a notebook runs them). The blocks assert on the results."""

import re
from pathlib import Path

import pytest

from optest import QEMU_MARKS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"


def readme_section() -> str:
    """The README's "Python API" section."""
    text = (ROOT / "README.md").read_text()
    return text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_doc_has_examples_of_every_function():
    blocks = python_blocks(DOC.read_text())
    code = "\n".join(blocks)
    for name in ("compile", "verify", "check", "export", "compress"):
        assert f"tinycompress.{name}(" in code, name
    assert all("assert " in block for block in blocks)  # every example checks its results


@pytest.mark.slow
@pytest.mark.parametrize("_", [None], ids=["docs/api.md"])
@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_api_examples_run(_, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "api_docs"}
    for i, block in enumerate(python_blocks(DOC.read_text())):
        exec(compile(block, f"{DOC.name} block {i + 1}", "exec"), namespace)
    assert (tmp_path / "out" / "manifest.json").is_file()
    assert (tmp_path / "pkg.zip").is_file()


@pytest.mark.slow
@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    [block] = python_blocks(readme_section())
    assert "assert " in block
    namespace: dict = {"__name__": "readme"}
    exec(compile(block, "README.md Python API", "exec"), namespace)
    assert namespace["fits"] is True
