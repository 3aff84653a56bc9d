"""Build a flashable image for a real board and program it with pyOCD.

The image is the QEMU harness linked with the board's own memory map (firmware/linker.ld.j2) and
built with -DTC_FLASH_BUILD: it runs the model once on the compiled-in test vectors, prints the
results over semihosting when a debugger is attached (Armv7-M and later check DHCSR.C_DEBUGEN
first; without a debugger the output is skipped), then sleeps. ELF and Intel HEX are written.

Limits: the startup does not configure clocks (the core runs at its reset clock, e.g. 4 MHz MSI on
STM32L4, not clock_hz), caches or a UART; reading the semihosting output needs a debugger session
such as `pyocd gdbserver --semihosting` with gdb.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..boards import Board, get_board
from ..errors import UserError, VerificationError
from . import cortexm, elfsize


@dataclass
class FlashImage:
    board: Board
    elf: Path
    hex: Path
    flash_bytes: int
    static_ram_bytes: int
    program_command: list[str]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"board": self.board.name, "elf": str(self.elf), "hex": str(self.hex),
                "flash_bytes": self.flash_bytes, "static_ram_bytes": self.static_ram_bytes,
                "program_command": shlex.join(self.program_command), "notes": self.notes}


def pyocd_command(board: Board, hex_path: Path, probe: str | None = None) -> list[str]:
    cmd = ["pyocd", "load", "--no-wait", "--target", board.pyocd_target, "--format", "hex"]
    if probe:
        cmd += ["--uid", probe]
    return cmd + [str(hex_path)]


def _check_flashable(board: Board) -> None:
    if board.emulated:
        raise UserError(f"{board.name} is an emulated board; flash a real board, or run "
                        f"'tinycompress verify --target qemu --board {board.name}'")
    if board.flash_unsupported:
        raise UserError(f"cannot flash {board.name}: {board.flash_unsupported}")


def build_image(outdir: Path | str, board: Board | str, workdir: Path | str,
                inputs=None, probe: str | None = None) -> FlashImage:
    """Cross-compiles the model in OUTDIR with the flash harness for `board` into workdir.
    inputs: the vectors compiled in (as qemu.run takes them); one of zeros if None."""
    from .qemu import check_inputs, load_manifest

    board = get_board(board) if isinstance(board, str) else board
    _check_flashable(board)
    outdir, workdir = Path(outdir).resolve(), Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(outdir)
    if inputs is None:
        inputs = [np.zeros((1, int(s["size"])), s.get("dtype", "int8")) for s in manifest["inputs"]]
    inputs = check_inputs(manifest, inputs)
    builder = cortexm.ImageBuilder(outdir, manifest, board, board, workdir, flash_build=True)
    try:
        b = builder.link(inputs, "flash", use_testdata=False)
    except VerificationError as e:
        if "overflowed" in str(e) or "will not fit" in str(e) or "minimum stack" in str(e):
            raise UserError(f"the model does not fit {board.name}: "
                            f"{str(e).splitlines()[-1]}") from None
        raise
    hex_path = cortexm.to_hex(b.elf)
    sizes = elfsize.measure(b.elf, include_testdata=True)
    notes = [
        "the image runs the model once on the compiled-in vector(s), reports over "
        "semihosting if a debugger is attached, then sleeps",
        "the startup leaves the clock at its reset value (clock_hz is not configured)",
    ]
    if board.pyocd_pack:
        notes.append(f"pyOCD needs the device pack: 'pyocd pack install {board.pyocd_target}'")
    return FlashImage(board, b.elf, hex_path, sizes.flash, sizes.static_ram,
                      pyocd_command(board, hex_path, probe), notes)


def program(image: FlashImage, timeout: float = 300) -> str:
    """Programs the HEX with pyOCD. UserError (one line) when no probe or target is found."""
    exe = shutil.which("pyocd")
    cmd = list(image.program_command)
    if exe is None:
        try:
            import pyocd  # noqa: F401
        except ImportError:
            raise UserError("pyocd is not installed; 'pip install pyocd' "
                            "(or pip install 'tinycompress[boards]')") from None
        cmd = [sys.executable, "-m", "pyocd", *cmd[1:]]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise VerificationError(f"pyocd did not finish within {timeout:g} s") from None
    text = (p.stdout + p.stderr).strip()
    if p.returncode != 0:
        low = text.lower()
        if "no connected debug probes" in low or "no available debug probes" in low \
                or "no target device available" in low:
            raise UserError(f"no debug probe found for {image.board.name}: connect the board's "
                            "ST-LINK/J-Link/CMSIS-DAP over USB and retry")
        if "target type" in low and ("not recognized" in low or "unknown" in low):
            raise UserError(f"pyOCD does not know target {image.board.pyocd_target!r}; "
                            f"run 'pyocd pack install {image.board.pyocd_target}'")
        last = text.splitlines()[-1] if text else f"exit status {p.returncode}"
        raise UserError(f"pyocd could not program {image.board.name}: {last}")
    return text
