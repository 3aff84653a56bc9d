"""The fake model under QEMU on every emulated core: bit-exact outputs, deterministic counts."""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinycompress.errors import UserError, VerificationError
from tinycompress.targets import qemu
from optest import QEMU_MARKS

FAKE = Path(__file__).resolve().parent / "fixtures" / "fake_model"

pytestmark = QEMU_MARKS


def _reference():
    spec = importlib.util.spec_from_file_location("fake_reference", FAKE / "reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


REF = _reference()


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, (6, 32)).astype(np.int8)
    x[0] = -128
    x[1] = 127
    return x


@pytest.fixture
def fake(tmp_path):
    out = tmp_path / "fake_model"
    shutil.copytree(FAKE, out)
    return out


@pytest.mark.parametrize("board", ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505",
                                   "mps3-an547", "microbit", "mps2-an385-m0"])
def test_fake_model_bit_exact_and_deterministic(board, vectors, tmp_path):
    expected = REF.invoke(vectors)
    assert len(np.unique(expected)) > 10  # not all saturated: the comparison means something
    a = qemu.run(FAKE, board, vectors, workdir=tmp_path / "a")
    b = qemu.run(FAKE, board, vectors, workdir=tmp_path / "b")
    for r in (a, b):
        np.testing.assert_array_equal(r.outputs, expected)
        assert r.outputs.dtype == np.int8 and r.outputs.shape == (6, 8)
    assert a.count_method == "exact" and a.count_resolution == 1
    np.testing.assert_array_equal(a.instructions, b.instructions)
    assert a.layer_instructions == b.layer_instructions
    assert len(a.layer_instructions) == 2
    # 640 MACs: more than one instruction each, less than twenty.
    assert 640 < a.instructions_per_inference < 640 * 20
    assert sum(a.layer_instructions) <= a.instructions_per_inference
    assert a.layer_instructions[0] > a.layer_instructions[1]  # 512 MACs vs 128
    assert 1000 < a.flash_bytes < 8192 and a.model_flash_bytes < a.flash_bytes
    assert 0 < a.stack_bytes < 1024 and a.static_ram_bytes > 0


def test_an547_links_read_only_data_into_its_sram(vectors, tmp_path):
    from elftools.elf.elffile import ELFFile

    from tinycompress.boards import get_board

    board = get_board("mps3-an547")
    r = qemu.run(FAKE, board, vectors[:2], workdir=tmp_path)
    np.testing.assert_array_equal(r.outputs, REF.invoke(vectors[:2]))
    with open(r.elf, "rb") as f:
        secs = {s.name: s for s in ELFFile(f).iter_sections()}
    ro, code = board.rodata_region, board.code_region
    assert secs[".rodata"]["sh_size"] > 0
    assert ro.origin <= secs[".rodata"]["sh_addr"] < ro.end
    assert code.origin <= secs[".text"]["sh_addr"] < code.end


def test_systick_counts_agree_with_exact(vectors, tmp_path):
    exact = qemu.run(FAKE, "mps2-an386", vectors, workdir=tmp_path / "e")
    tick = qemu.run(FAKE, "mps2-an386", vectors, workdir=tmp_path / "s", exact=False)
    again = qemu.run(FAKE, "mps2-an386", vectors, workdir=tmp_path / "s2", exact=False)
    assert tick.count_method == "systick" and tick.count_resolution == 40
    np.testing.assert_array_equal(tick.outputs, exact.outputs)
    np.testing.assert_array_equal(tick.instructions, again.instructions)
    # Hook overhead is calibrated to one tick at best: allow a tick per hook call.
    assert abs(tick.instructions_per_inference - exact.instructions_per_inference) <= 6 * 40


def test_real_board_runs_on_matching_machine(vectors, tmp_path):
    r = qemu.run(FAKE, "nucleo-l4r5zi", vectors[:2], workdir=tmp_path)
    assert (r.board, r.machine) == ("nucleo-l4r5zi", "mps2-an386")
    assert "-mfpu=fpv4-sp-d16" in r.cflags
    np.testing.assert_array_equal(r.outputs, REF.invoke(vectors[:2]))


def test_batches(vectors, monkeypatch):
    monkeypatch.setattr(qemu, "MAX_VECTORS_PER_RUN", 4)
    r = qemu.run(FAKE, "mps2-an385", vectors)
    assert r.batches == 2
    np.testing.assert_array_equal(r.outputs, REF.invoke(vectors))
    assert len(r.instructions) == len(vectors)


def test_record_measurement(fake, vectors):
    r = qemu.run(fake, "mps2-an505", vectors[:1])
    qemu.record_measurement(fake, "mps2-an505", r)
    m = json.loads((fake / "manifest.json").read_text())["measurements"]["mps2-an505"]
    assert m["instructions_per_inference"] == r.instructions_per_inference
    assert m["ram_bytes"] == r.static_ram_bytes + r.stack_bytes
    assert m["machine"] == "mps2-an505" and m["instructions_method"] == "exact"


@pytest.mark.parametrize("board", ["microbit", "mps2-an386"])
def test_fault_is_reported(fake, vectors, board):
    path = fake / "src" / "model.c"
    src = path.read_text()
    src = src.replace("    TC_LAYER_BEGIN(1);", '    __asm__ volatile("udf #0");\n    TC_LAYER_BEGIN(1);')
    path.write_text(src)
    with pytest.raises(VerificationError, match=f"faulted on {board}: FAULT hardfault .*pc=0x"):
        qemu.run(fake, board, vectors[:1], timeout=30)


def test_compile_error_is_reported(fake, vectors):
    path = fake / "src" / "model.c"
    path.write_text(path.read_text() + "\nstatic int unused;\n")
    with pytest.raises(VerificationError, match="unused"):
        qemu.run(fake, "mps2-an385", vectors[:1])


def test_bad_inputs(vectors):
    with pytest.raises(UserError, match="31 values per vector, the model expects 32"):
        qemu.run(FAKE, "mps2-an385", vectors[:, :31])
    with pytest.raises(UserError, match="must be int8"):
        qemu.run(FAKE, "mps2-an385", vectors.astype(np.float32))


def test_missing_manifest(tmp_path, vectors):
    with pytest.raises(UserError, match="manifest.json not found"):
        qemu.run(tmp_path, "mps2-an385", vectors)


def test_m0_code_runs_on_the_an385_and_says_so(vectors, tmp_path):
    """mps2-an385-m0: the Cortex-M0 build (Armv6-M) measured on the M3 machine, with a note."""
    from tinycompress.targets import isa

    r = qemu.run(FAKE, "mps2-an385-m0", vectors[:2], workdir=tmp_path)
    assert (r.board, r.machine) == ("mps2-an385-m0", "mps2-an385")
    assert r.cflags[:3] == ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"]
    assert isa.cpu_arch(r.elf) == "v6S-M" and isa.check_armv6m(r.elf) > 100
    assert "run on mps2-an385" in r.note and "microbit, cortex-m0: 16 KB" in r.note
    np.testing.assert_array_equal(r.outputs, REF.invoke(vectors[:2]))
    m0 = qemu.run(FAKE, "microbit", vectors[:2], workdir=tmp_path / "microbit")
    assert m0.note is None
    # The same Armv6-M instructions on either machine: equal counts.
    np.testing.assert_array_equal(r.instructions, m0.instructions)
    assert r.layer_instructions == m0.layer_instructions


def _inject(fake, code: str) -> None:
    path = fake / "src" / "model.c"
    path.write_text(path.read_text().replace("    TC_LAYER_BEGIN(1);", code + "\n    TC_LAYER_BEGIN(1);"))


def test_thumb2_instruction_in_m0_image_is_refused(fake, vectors):
    # SDIV r0, r0, r1 as raw bits: the assembler takes it, the Armv6-M check must not.
    _inject(fake, '    __asm__ volatile(".inst.w 0xfb90f0f1" ::: "r0");')
    with pytest.raises(VerificationError, match=r"1 instruction\(s\) outside Armv6-M: .*sdiv"):
        qemu.run(fake, "mps2-an385-m0", vectors[:1], timeout=30)


@pytest.mark.parametrize("board, faults", [("mps2-an385-m0", True), ("mps2-an385", False)])
def test_unaligned_word_load_faults_on_the_m0_board(fake, vectors, board, faults):
    """An M0 faults on an unaligned LDR; the M0 board makes the M3 machine do the same."""
    _inject(fake, "    { uint32_t v; const uint8_t *p = (const uint8_t *)output + 1;\n"
                  '      __asm__ volatile("ldr %0, [%1]" : "=l"(v) : "l"(p) : "memory"); (void)v; }')
    if faults:
        with pytest.raises(VerificationError, match="faulted on mps2-an385: FAULT hardfault"):
            qemu.run(fake, board, vectors[:1], timeout=30)
    else:
        qemu.run(fake, board, vectors[:1], timeout=30)
