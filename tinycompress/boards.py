"""Board descriptions: one TOML file per board in `boards/` (shipped as `tinycompress._boards`).

A board names its core and features, clock, memory regions, the QEMU machine whose core matches it
(used to verify and measure; Armv6-M code may name an Armv7-M machine, see runs_on), the pyOCD
target used to flash it, and a cycles-per-instruction assumption for latency estimates. Every field is validated when the file is read, so a bad file
fails with its name and the field at fault.

Memory regions: exactly one has `code = true` (text, rodata and data initialisers are linked
there) and exactly one `data = true` (data, bss, heap and stack). At most one may have
`rodata = true`: read-only data (the model's const weights) is then linked there instead of into
the code region, for boards whose code memory is small beside a larger memory the image is loaded
into (the MPS3 AN547's 512 KB ITCM beside its 2 MB SRAM). Emulated boards may have one
`testdata = true` region where the QEMU harness keeps test vectors out of the measured flash.
"""

from __future__ import annotations

import functools
import importlib.resources
import tomllib
from dataclasses import dataclass, field

from .errors import UserError

CORES = ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33",
         "cortex-m55")
FPUS = ("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")
MVES = ("none", "int", "float")
KINDS = ("flash", "ram")

# Which FPUs and MVE a core can have (Arm architecture reference manuals).
_CORE_FPUS = {
    "cortex-m0": ("none",), "cortex-m0plus": ("none",), "cortex-m3": ("none",),
    "cortex-m4": ("none", "fpv4-sp-d16"), "cortex-m7": ("none", "fpv5-sp-d16", "fpv5-d16"),
    "cortex-m33": ("none", "fpv5-sp-d16"), "cortex-m55": ("none", "fpv5-d16"),
}


@dataclass(frozen=True)
class Region:
    name: str
    kind: str  # "flash" (non-volatile code store) or "ram"
    origin: int
    size: int
    code: bool = False
    data: bool = False
    testdata: bool = False
    rodata: bool = False  # read-only data (weights) is linked here rather than into code

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    mcu: str
    core: str
    fpu: str
    dsp: bool
    mve: str
    clock_hz: int
    qemu: str | None  # QEMU machine (an emulated board's name) whose core matches; None: no machine
    pyocd_target: str | None
    cpi: float
    cpi_source: str
    memory: tuple[Region, ...]
    emulated: bool = False
    systick_hz: int | None = None  # emulated boards: SysTick clock under QEMU
    pyocd_pack: bool = False  # pyOCD needs `pyocd pack install <target>` for this target
    flash_unsupported: str | None = None  # why `tinycompress flash` cannot program this board
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def code_region(self) -> Region:
        return next(r for r in self.memory if r.code)

    @property
    def data_region(self) -> Region:
        return next(r for r in self.memory if r.data)

    @property
    def testdata_region(self) -> Region | None:
        return next((r for r in self.memory if r.testdata), None)

    @property
    def rodata_region(self) -> Region | None:
        return next((r for r in self.memory if r.rodata), None)

    @property
    def flash_bytes(self) -> int:
        """Capacity for the image: the region code is linked into, plus the read-only data
        region if the board has one (the linker checks each region on its own)."""
        ro = self.rodata_region
        return self.code_region.size + (ro.size if ro else 0)

    @property
    def ram_bytes(self) -> int:
        """Capacity for data, bss and stack: the region they are linked into."""
        return self.data_region.size

    @property
    def ram_total_bytes(self) -> int:
        return sum(r.size for r in self.memory if r.kind == "ram" and not r.testdata)

    @property
    def has_fpu(self) -> bool:
        return self.fpu != "none"

    @property
    def features(self) -> list[str]:
        out = []
        if self.has_fpu:
            out.append("fpu-dp" if self.fpu == "fpv5-d16" else "fpu-sp")
        if self.dsp:
            out.append("dsp")
        if self.mve != "none":
            out.append("mve-f" if self.mve == "float" else "mve-i")
        return out

    def to_dict(self) -> dict:
        return {
            "name": self.name, "title": self.title, "mcu": self.mcu, "core": self.core,
            "fpu": self.fpu, "dsp": self.dsp, "mve": self.mve, "clock_hz": self.clock_hz,
            "flash_bytes": self.flash_bytes, "ram_bytes": self.ram_bytes,
            "ram_total_bytes": self.ram_total_bytes, "qemu": self.qemu,
            "pyocd_target": self.pyocd_target, "emulated": self.emulated, "cpi": self.cpi,
            "cpi_source": self.cpi_source,
            "memory": [{"name": r.name, "kind": r.kind, "origin": r.origin, "size": r.size,
                        "code": r.code, "data": r.data, "testdata": r.testdata,
                        "rodata": r.rodata}
                       for r in self.memory],
        }


class BoardFileError(UserError):
    pass


def _req(d: dict, key: str, typ, where: str):
    if key not in d:
        raise BoardFileError(f"{where}: missing field '{key}'")
    v = d[key]
    if (typ is not bool and isinstance(v, bool)) or not isinstance(v, typ):
        tname = "number" if isinstance(typ, tuple) else typ.__name__
        raise BoardFileError(f"{where}: field '{key}' = {v!r} must be {tname}")
    return v


def _opt(d: dict, key: str, typ, default, where: str):
    return _req(d, key, typ, where) if key in d else default


def _choice(value, allowed, key, where):
    if value not in allowed:
        raise BoardFileError(f"{where}: {key} = {value!r}; allowed: {', '.join(allowed)}")
    return value


_KNOWN_KEYS = {"name", "title", "mcu", "core", "fpu", "dsp", "mve", "clock_hz", "qemu",
               "pyocd_target", "pyocd_pack", "cpi", "cpi_source", "memory", "emulated",
               "systick_hz", "flash_unsupported"}


def parse_board(data: dict, where: str) -> Board:
    """Validates one board's TOML table and returns the Board (without cross-board checks)."""
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise BoardFileError(f"{where}: unknown field(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(_KNOWN_KEYS))}")
    name = _req(data, "name", str, where)
    core = _choice(_req(data, "core", str, where), CORES, "core", where)
    fpu = _choice(_req(data, "fpu", str, where), FPUS, "fpu", where)
    if fpu not in _CORE_FPUS[core]:
        raise BoardFileError(f"{where}: {core} cannot have fpu {fpu!r}; "
                             f"allowed: {', '.join(_CORE_FPUS[core])}")
    mve = _choice(_opt(data, "mve", str, "none", where), MVES, "mve", where)
    if mve != "none" and core != "cortex-m55":
        raise BoardFileError(f"{where}: mve = {mve!r} needs an Armv8.1-M core (cortex-m55)")
    if mve == "float" and fpu == "none":
        raise BoardFileError(f"{where}: mve = 'float' needs an FPU")
    dsp = _req(data, "dsp", bool, where)
    if dsp and core in ("cortex-m0", "cortex-m0plus", "cortex-m3"):
        raise BoardFileError(f"{where}: {core} has no DSP extension; set dsp = false")
    clock = _req(data, "clock_hz", int, where)
    if not 1_000_000 <= clock <= 2_000_000_000:
        raise BoardFileError(f"{where}: clock_hz = {clock} outside 1 MHz..2 GHz")
    cpi = _req(data, "cpi", (int, float), where)
    if not 0.3 <= cpi <= 10:
        raise BoardFileError(f"{where}: cpi = {cpi} outside 0.3..10")
    cpi_source = _req(data, "cpi_source", str, where).strip()
    if not cpi_source:
        raise BoardFileError(f"{where}: cpi_source must say where the CPI figure comes from")
    emulated = _opt(data, "emulated", bool, False, where)
    systick_hz = _opt(data, "systick_hz", int, None, where)
    if emulated and systick_hz is None:
        raise BoardFileError(f"{where}: emulated boards need systick_hz")

    regions = []
    mems = _req(data, "memory", list, where)
    for i, m in enumerate(mems):
        w = f"{where}: memory[{i}]"
        if not isinstance(m, dict):
            raise BoardFileError(f"{w} must be a table")
        r = Region(
            name=_req(m, "name", str, w),
            kind=_choice(_req(m, "kind", str, w), KINDS, "kind", w),
            origin=_req(m, "origin", int, w), size=_req(m, "size", int, w),
            code=_opt(m, "code", bool, False, w), data=_opt(m, "data", bool, False, w),
            testdata=_opt(m, "testdata", bool, False, w),
            rodata=_opt(m, "rodata", bool, False, w))
        if r.size <= 0 or r.origin < 0 or r.end > 1 << 32 or r.origin % 4:
            raise BoardFileError(f"{w} ({r.name}): origin 0x{r.origin:x} size 0x{r.size:x} "
                                 "must be word-aligned, positive and below 4 GB")
        if sum((r.code, r.data, r.testdata, r.rodata)) > 1:
            raise BoardFileError(f"{w} ({r.name}): a region is code, data, rodata or testdata, "
                                 "not two")
        regions.append(r)
    for role in ("code", "data"):
        n = sum(getattr(r, role) for r in regions)
        if n != 1:
            raise BoardFileError(f"{where}: exactly one memory region needs {role} = true "
                                 f"(found {n})")
    for role in ("testdata", "rodata"):
        if sum(getattr(r, role) for r in regions) > 1:
            raise BoardFileError(f"{where}: at most one memory region may have {role} = true")
    ordered = sorted(regions, key=lambda r: r.origin)
    for a, b in zip(ordered, ordered[1:]):
        if a.end > b.origin:
            raise BoardFileError(f"{where}: memory regions {a.name} and {b.name} overlap")
    return Board(
        name=name, title=_req(data, "title", str, where), mcu=_req(data, "mcu", str, where),
        core=core, fpu=fpu, dsp=dsp, mve=mve, clock_hz=clock,
        qemu=_opt(data, "qemu", str, None, where),
        pyocd_target=_opt(data, "pyocd_target", str, None, where),
        cpi=float(cpi), cpi_source=" ".join(cpi_source.split()), memory=tuple(regions),
        emulated=emulated, systick_hz=systick_hz,
        pyocd_pack=_opt(data, "pyocd_pack", bool, False, where),
        flash_unsupported=_opt(data, "flash_unsupported", str, None, where))


@functools.cache
def all_boards() -> dict[str, Board]:
    """Every shipped board by name, validated, including the cross-references between boards."""
    boards: dict[str, Board] = {}
    root = importlib.resources.files("tinycompress._boards")
    for f in sorted(root.iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".toml"):
            continue
        where = f"boards/{f.name}"
        try:
            data = tomllib.loads(f.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise BoardFileError(f"{where}: not valid TOML ({e})") from None
        b = parse_board(data, where)
        if f.name != f"{b.name}.toml":
            raise BoardFileError(f"{where}: name {b.name!r} must match the file name")
        boards[b.name] = b
    check_references(boards)
    return boards


def check_references(boards: dict[str, Board]) -> None:
    """The checks between boards: each board's QEMU machine exists, is emulated, can run the
    board's code (runs_on) and has its features; a real board says how it is flashed."""
    for b in boards.values():
        where = f"boards/{b.name}.toml"
        if b.emulated and b.qemu != b.name:
            raise BoardFileError(f"{where}: an emulated board's qemu must be its own name")
        if b.qemu is not None:
            m = boards.get(b.qemu)
            if m is None or not m.emulated:
                raise BoardFileError(f"{where}: qemu = {b.qemu!r} is not an emulated board")
            if not runs_on(b.core, m.core):
                raise BoardFileError(f"{where}: core {b.core} cannot be run on {m.name} "
                                     f"({m.core})")
            if b.mve != "none" and m.mve == "none" or b.has_fpu and not m.has_fpu:
                raise BoardFileError(f"{where}: {m.name} lacks features of {b.core}")
        if not b.emulated and b.pyocd_target is None and b.flash_unsupported is None:
            raise BoardFileError(f"{where}: a real board needs pyocd_target or "
                                 "flash_unsupported")


def _isa(core: str) -> str:
    return {"cortex-m0": "v6m", "cortex-m0plus": "v6m", "cortex-m3": "v7m",
            "cortex-m4": "v7em", "cortex-m7": "v7em", "cortex-m33": "v8m.main",
            "cortex-m55": "v8.1m.main"}[core]


def runs_on(core: str, machine_core: str) -> bool:
    """Whether `core`'s code runs, instruction for instruction, on a machine with
    `machine_core`: the same architecture, or Armv6-M code on an Armv7-M core (Armv6-M is a
    subset of Armv7-M; qemu.run checks the image holds Armv6-M instructions only and makes
    unaligned accesses fault as on Armv6-M)."""
    isa, machine_isa = _isa(core), _isa(machine_core)
    return isa == machine_isa or (isa, machine_isa) == ("v6m", "v7m")


def substitution_note(board: Board, machine: Board) -> str | None:
    """Why `board`'s code runs on `machine` of a wider architecture (runs_on), in a line;
    None when the machine has the board's own architecture."""
    if _isa(board.core) == _isa(machine.core):
        return None
    own = [b for b in all_boards().values() if b.emulated and _isa(b.core) == _isa(board.core)]
    why = "; ".join(f"{b.name}, {b.core}: {b.data_region.size // 1024} KB" for b in own)
    return (f"{board.core} code (Armv6-M, checked in the image) run on {machine.name} "
            f"({machine.core}, {machine.data_region.size // 1024} KB RAM)"
            + (f" because the Armv6-M machines have little RAM ({why})" if own else ""))


def get_board(name: str) -> Board:
    """The board called `name` (case-insensitive); UserError listing the known names otherwise."""
    boards = all_boards()
    b = boards.get(name.strip().lower())
    if b is None:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(sorted(boards))}")
    return b


def qemu_board(board: Board) -> Board:
    """The emulated board (QEMU machine) on which `board`'s code is verified and measured."""
    if board.qemu is None:
        raise UserError(f"board {board.name} has no QEMU machine with a matching core; "
                        "choose one of: " + ", ".join(n for n, b in all_boards().items()
                                                       if b.emulated))
    return all_boards()[board.qemu]


def parse_size(text: str | int) -> int:
    """'256K', '1M', '1.5M', '4096', '64KB', '0x1000' -> bytes (K = 1024)."""
    if isinstance(text, int):
        return text
    s = str(text).strip().upper()
    mult = 1
    if s.startswith("0X"):
        try:
            return int(s, 16)
        except ValueError:
            raise UserError(f"size {text!r} is not a hexadecimal number") from None
    s = s.removesuffix("IB").removesuffix("B")
    for suffix, m in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)):
        if s.endswith(suffix):
            s, mult = s[:-1], m
            break
    try:
        value = float(s)
    except ValueError:
        raise UserError(f"size {text!r} not understood; write bytes or a K/M suffix, "
                        "e.g. 256K or 1M") from None
    if value < 0:
        raise UserError(f"size {text!r} is negative")
    return int(value * mult)
