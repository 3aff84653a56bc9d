"""Board files: every shipped board validates; bad board data is refused with a clear message."""

import copy
import json
import tomllib
from pathlib import Path

import pytest

from tinycompress.boards import (all_boards, get_board, parse_board, parse_size, qemu_board,
                                 check_references, runs_on, substitution_note)
from tinycompress.cli import main
from tinycompress.errors import UserError
from tinycompress.targets.cortexm import core_flags, render_linker_script

BOARDS_DIR = Path(__file__).resolve().parents[1] / "boards"

REQUIRED = {
    "nucleo-l4r5zi", "nucleo-f446re", "nucleo-h743zi2", "stm32f746g-disco", "nrf52840-dk",
    "nano33-ble-sense", "rpi-pico", "sparkfun-edge", "mps2-an385", "mps2-an386", "mps2-an500",
    "mps2-an505", "mps3-an547", "microbit",
}


def test_required_boards_present_and_valid():
    boards = all_boards()
    assert REQUIRED <= set(boards)
    for b in boards.values():
        assert b.code_region.size > 0 and b.data_region.size > 0
        assert b.cpi_source
        m = qemu_board(b)
        assert m.emulated and runs_on(b.core, m.core)
        assert (substitution_note(b, m) is None) == (b.name != "mps2-an385-m0")


@pytest.mark.parametrize("core, machine, ok", [
    ("cortex-m0", "cortex-m0", True), ("cortex-m0plus", "cortex-m0", True),
    ("cortex-m0", "cortex-m3", True), ("cortex-m4", "cortex-m7", True),
    ("cortex-m3", "cortex-m0", False), ("cortex-m0", "cortex-m4", False),
    ("cortex-m4", "cortex-m3", False), ("cortex-m3", "cortex-m4", False),
    ("cortex-m0", "cortex-m55", False), ("cortex-m33", "cortex-m55", False),
])
def test_runs_on(core, machine, ok):
    assert runs_on(core, machine) == ok


def test_m0_board_is_m0_code_on_the_an385():
    b = get_board("mps2-an385-m0")
    m = qemu_board(b)
    assert (b.core, m.name, m.core) == ("cortex-m0", "mps2-an385", "cortex-m3")
    assert core_flags(b) == ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"]
    assert not b.emulated and b.flash_unsupported and "not a real board" in b.flash_unsupported
    assert b.code_region == m.code_region and b.data_region == m.data_region
    note = substitution_note(b, m)
    assert note.startswith("cortex-m0 code (Armv6-M, checked in the image) run on mps2-an385")
    assert "microbit, cortex-m0: 16 KB" in note


@pytest.mark.parametrize("core, machine", [("cortex-m0", "mps2-an386"),
                                           ("cortex-m3", "microbit"),
                                           ("cortex-m4", "mps2-an385")])
def test_board_on_a_machine_it_cannot_run_on_is_refused(core, machine):
    import dataclasses

    boards = dict(all_boards())
    boards["mps2-an385-m0"] = dataclasses.replace(boards["mps2-an385-m0"], core=core,
                                                  qemu=machine)
    with pytest.raises(UserError, match=f"core {core} cannot be run on {machine}"):
        check_references(boards)
    check_references(dict(all_boards()))


def test_emulated_machine_cores():
    cores = {n: get_board(n).core for n in ("mps2-an385", "mps2-an386", "mps2-an500",
                                            "mps2-an505", "mps3-an547", "microbit")}
    assert cores == {"mps2-an385": "cortex-m3", "mps2-an386": "cortex-m4",
                     "mps2-an500": "cortex-m7", "mps2-an505": "cortex-m33",
                     "mps3-an547": "cortex-m55", "microbit": "cortex-m0"}
    assert get_board("mps3-an547").mve == "float"
    assert get_board("mps2-an505").code_region.origin == 0x10000000
    assert get_board("mps3-an547").code_region.origin == 0x10000000


def test_lookup_is_case_insensitive():
    assert get_board("NUCLEO-L4R5ZI").name == "nucleo-l4r5zi"


def test_unknown_board_lists_known_names():
    with pytest.raises(UserError, match=r"unknown board 'nope'; known boards: .*nucleo-l4r5zi"):
        get_board("nope")


def _base():
    return tomllib.loads((BOARDS_DIR / "nucleo-l4r5zi.toml").read_text())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(core="cortex-m9"), "core = 'cortex-m9'; allowed"),
    (lambda d: d.update(fpu="fpv5-d16"), "cortex-m4 cannot have fpu 'fpv5-d16'"),
    (lambda d: d.update(mve="int"), "needs an Armv8.1-M core"),
    (lambda d: d.pop("cpi_source"), "missing field 'cpi_source'"),
    (lambda d: d.update(cpi=0), "cpi = 0 outside"),
    (lambda d: d.update(clock_hz="120M"), "clock_hz' = '120M' must be int"),
    (lambda d: d.update(dsp=1), "'dsp' = 1 must be bool"),
    (lambda d: d.update(colour="red"), "unknown field"),
    (lambda d: d["memory"][0].pop("code"), "exactly one memory region needs code = true"),
    (lambda d: d["memory"][1].update(origin=0x08000000), "overlap"),
    (lambda d: d["memory"][1].update(size=-4), "must be word-aligned, positive"),
    (lambda d: d["memory"][0].update(rodata=True), "a region is code, data, rodata or testdata"),
    (lambda d: d["memory"].extend([{"name": n, "kind": "flash", "origin": o, "size": 4096,
                                    "rodata": True} for n, o in (("a", 0x9000000),
                                                                 ("b", 0x9001000))]),
     "at most one memory region may have rodata = true"),
])
def test_bad_board_data_refused(mutate, message):
    d = copy.deepcopy(_base())
    mutate(d)
    with pytest.raises(UserError, match=message):
        parse_board(d, "boards/x.toml")


@pytest.mark.parametrize("text, value", [
    ("256K", 256 * 1024), ("1M", 1 << 20), ("1.5M", 3 << 19), ("4096", 4096), ("64KB", 65536),
    ("64KiB", 65536), ("0x1000", 4096), (" 2k ", 2048),
])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["12Q", "", "K", "-1K", "0xZZ"])
def test_parse_size_rejects(text):
    with pytest.raises(UserError):
        parse_size(text)


def test_core_flags():
    assert core_flags(get_board("microbit")) == ["-mcpu=cortex-m0", "-mthumb",
                                                 "-mfloat-abi=soft"]
    assert core_flags(get_board("rpi-pico"))[0] == "-mcpu=cortex-m0plus"
    assert core_flags(get_board("mps2-an386"))[2:] == ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    assert core_flags(get_board("mps2-an500"))[-1] == "-mfpu=fpv5-d16"
    assert core_flags(get_board("stm32f746g-disco"))[-1] == "-mfpu=fpv5-sp-d16"
    assert core_flags(get_board("mps3-an547")) == ["-mcpu=cortex-m55", "-mthumb",
                                                   "-mfloat-abi=hard"]


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_linker_script_renders(name):
    b = get_board(name)
    ld = render_linker_script(b, use_testdata=b.testdata_region is not None)
    assert f"ORIGIN = 0x{b.code_region.origin:08x}" in ld
    assert f"ORIGIN = 0x{b.data_region.origin:08x}" in ld
    assert ("TESTDATA (rw)" in ld) == (b.testdata_region is not None)


def test_an547_weights_region_is_sram_beside_itcm():
    b = get_board("mps3-an547")
    ro = b.rodata_region
    assert (ro.origin, ro.size) == (0x11000000, 2 << 20) and ro.kind == "flash"
    assert b.flash_bytes == b.code_region.size + ro.size
    ld = render_linker_script(b, use_testdata=True)
    assert "RODATA (r)     : ORIGIN = 0x11000000, LENGTH = 0x200000" in ld
    assert "*(.rodata .rodata.*)\n    . = ALIGN(4);\n  } > RODATA" in ld
    assert ld.count("*(.rodata .rodata.*)") == 1
    plain = render_linker_script(get_board("mps2-an386"), use_testdata=True)
    assert "RODATA" not in plain and plain.count("*(.rodata .rodata.*)") == 1
    assert get_board("mps2-an386").flash_bytes == get_board("mps2-an386").code_region.size


def test_boards_command_json(capsys):
    assert main(["boards", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {b["name"] for b in data["boards"]} >= REQUIRED
    l4 = next(b for b in data["boards"] if b["name"] == "nucleo-l4r5zi")
    assert l4["qemu"] == "mps2-an386" and l4["flash_bytes"] == 2 << 20


def test_boards_command_table(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for name in REQUIRED:
        assert name in out
