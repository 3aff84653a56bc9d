"""Checking that a linked Cortex-M image holds Armv6-M instructions only.

Armv6-M code (Cortex-M0/M0+) may be measured on an Armv7-M QEMU machine (boards.runs_on): the
M3 executes every Armv6-M instruction as the M0 does, but it would also execute Thumb-2 ones an
M0 cannot. `check_armv6m` reads the image's build attributes (the linker records the highest
architecture of any object, newlib included) and disassembles every executable section with
arm-none-eabi-objdump: Armv6-M has 16-bit Thumb instructions except CBZ, CBNZ and IT, and six
32-bit ones (BL, DMB, DSB, ISB, MRS, MSR).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ..errors import UserError, VerificationError

OBJDUMP = "arm-none-eabi-objdump"
READELF = "arm-none-eabi-readelf"
ARMV6M_ARCHS = ("v6-M", "v6S-M")
ARMV6M_32BIT = frozenset({"bl", "dmb", "dsb", "isb", "mrs", "msr"})
_NOT_ARMV6M_16BIT = re.compile(r"^(cbn?z|it[te]{0,3})$")
# "   8:\tf000 f802 \tbl\t10 <f>": address, one or two halfwords, mnemonic, operands.
_INSN = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s*\t(\S+)\s*(.*)$")
_FUNC = re.compile(r"^[0-9a-f]+ <(.+)>:$")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UserError(f"{name} not found on PATH; install gcc-arm-none-eabi")
    return path


def _output(cmd: list[str]) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL, errors="replace")
    if p.returncode != 0:
        raise VerificationError(f"{Path(cmd[0]).name} failed: {p.stderr.strip()}")
    return p.stdout


def cpu_arch(elf: Path) -> str | None:
    """The image's Tag_CPU_arch build attribute (e.g. "v6S-M", "v7"), None without one."""
    m = re.search(r"Tag_CPU_arch: (\S+)", _output([_tool(READELF), "-A", str(elf)]))
    return m.group(1) if m else None


def not_armv6m(disassembly: str) -> tuple[int, list[str]]:
    """(instructions read, the ones outside Armv6-M as "address <function>: text") from
    objdump -d output of Thumb code."""
    count, bad, func = 0, [], "?"
    for line in disassembly.splitlines():
        f = _FUNC.match(line)
        if f:
            func = f.group(1)
            continue
        m = _INSN.match(line)
        if not m or m.group(4).startswith("."):  # literal pool data (.word, .short)
            continue
        count += 1
        mnemonic = m.group(4).lower()
        wide = m.group(3) is not None
        if (mnemonic not in ARMV6M_32BIT) if wide else bool(_NOT_ARMV6M_16BIT.match(mnemonic)):
            bad.append(f"0x{m.group(1)} <{func}>: {mnemonic} {m.group(5)}".rstrip())
    return count, bad


def check_armv6m(elf: Path) -> int:
    """Raises VerificationError unless every instruction of `elf` is Armv6-M; returns how many
    instructions were checked."""
    arch = cpu_arch(elf)
    if arch not in ARMV6M_ARCHS:
        raise VerificationError(f"{elf.name} is built for {arch or 'an unknown architecture'}, "
                                "not Armv6-M (Tag_CPU_arch)")
    count, bad = not_armv6m(_output([_tool(OBJDUMP), "-d", str(elf)]))
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise VerificationError(f"{elf.name} holds {len(bad)} instruction(s) outside Armv6-M: "
                                f"{'; '.join(bad[:3])}{more}")
    if count == 0:
        raise VerificationError(f"{elf.name}: objdump disassembled no instructions")
    return count
