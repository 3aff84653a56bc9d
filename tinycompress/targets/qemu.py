"""Run a generated model on an emulated Cortex-M (QEMU) and measure it.

`run(outdir, board, inputs)` cross-compiles the model in OUTDIR with the board's core flags and
our firmware (startup, semihosting, SysTick profiler, harness with the test vectors compiled in),
runs it under qemu-system-arm on the QEMU machine whose core matches the board, and returns the
outputs, instruction counts and memory figures. Armv6-M code may run on an Armv7-M machine
(boards.runs_on; the mps2-an385-m0 board): the image is then checked to hold Armv6-M instructions
only (isa.check_armv6m), and the startup makes unaligned accesses fault as on Armv6-M.

Instruction counts: QEMU models no cycles, so every figure is an instruction count. With the
tc_icount TCG plugin (firmware/qemu_plugin, built with the host gcc on first use and cached) the
counts are exact; without it they come from SysTick under `-icount shift=0` (one instruction per
virtual nanosecond), exact to one SysTick tick (1e9 / SysTick Hz instructions, 40 on mps2). Both
are deterministic: repeated runs give identical numbers. The cost of the profiling hooks
themselves is measured once per run (two hooks with nothing between) and subtracted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..boards import Board, get_board, qemu_board, substitution_note
from ..errors import UserError, VerificationError
from ..outdir import MANIFEST
from . import cortexm, elfsize, isa

QEMU = "qemu-system-arm"
MEASUREMENTS_KEY = "measurements"

EV_INFER_BEGIN, EV_INFER_END, EV_CAL_BEGIN, EV_CAL_END = 0xFFF0, 0xFFF1, 0xFFF2, 0xFFF3
FAULT_EXIT_CODE = 70
MAX_VECTORS_PER_RUN = 4096


@dataclass
class QemuResult:
    board: str  # the board asked for
    machine: str  # the QEMU machine it ran on
    outputs: np.ndarray  # (N, output_size) of the first output, in its dtype
    instructions: np.ndarray  # int64 (N,): instructions of each inference, hooks subtracted
    layer_instructions: list[int]  # per layer index: instructions, max over the vectors
    count_method: str  # "exact" (TCG plugin) or "systick"
    count_resolution: int  # 1 when exact; instructions per SysTick tick otherwise
    flash_bytes: int  # whole image without test vectors: model + firmware (startup, harness)
    static_ram_bytes: int  # .data + .bss of the whole image (includes the harness's buffers)
    stack_bytes: int  # stack high-water mark (painted at reset), harness frames included
    model_flash_bytes: int  # the model's own objects after --gc-sections (from the link map)
    model_static_ram_bytes: int
    cflags: list[str]
    batches: int
    elf: Path
    note: str | None = None  # why the board's code ran on a machine of another architecture
    raw: list[str] = field(default_factory=list, repr=False)  # harness output of the last batch
    all_outputs: list[np.ndarray] = field(default_factory=list, repr=False)  # every output, in order

    @property
    def instructions_per_inference(self) -> int:
        """Worst case over the vectors (equal for data-independent kernels)."""
        return int(self.instructions.max()) if len(self.instructions) else 0

    def to_measurement(self) -> dict:
        """The JSON object stored under manifest["measurements"][<board>]; see check.py."""
        return {
            "machine": self.machine,
            "cflags": self.cflags,
            "vectors": int(len(self.outputs)),
            "instructions_per_inference": self.instructions_per_inference,
            "instructions_min": int(self.instructions.min()) if len(self.instructions) else 0,
            "instructions_method": self.count_method,
            "instructions_resolution": self.count_resolution,
            "layer_instructions": [int(x) for x in self.layer_instructions],
            "flash_bytes": self.flash_bytes,
            "static_ram_bytes": self.static_ram_bytes,
            "stack_bytes": self.stack_bytes,
            "ram_bytes": self.static_ram_bytes + self.stack_bytes,
            "model_flash_bytes": self.model_flash_bytes,
            "model_static_ram_bytes": self.model_static_ram_bytes,
        }


def load_manifest(outdir: Path) -> dict:
    p = Path(outdir) / MANIFEST
    try:
        m = json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{p} not found; run 'tinycompress compile' to create OUTDIR") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{p} is not valid JSON ({e}); recompile the model") from None
    for key in ("name", "sources", "inputs", "outputs"):
        if key not in m:
            raise UserError(f"{p} has no '{key}'; recompile the model")
    return m


def record_measurement(outdir: Path, board: str, result: QemuResult) -> dict:
    """Stores result.to_measurement() in OUTDIR/manifest.json under measurements[board]."""
    p = Path(outdir) / MANIFEST
    m = json.loads(p.read_text())
    m.setdefault(MEASUREMENTS_KEY, {})[board] = result.to_measurement()
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(m, indent=2) + "\n")
    os.replace(tmp, p)
    return m


def qemu_binary() -> str:
    q = shutil.which(QEMU)
    if q is None:
        raise UserError(f"{QEMU} not found on PATH; install it, e.g. "
                        "'apt-get install qemu-system-arm'")
    return q


# ---------------------------------------------------------------- plugin


def plugin_path() -> Path | None:
    """The exact-count plugin, built with the host compiler on first use; None if impossible."""
    src = cortexm.firmware_dir() / "qemu_plugin" / "tc_icount.c"
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None or not src.exists():
        return None
    try:
        ver = subprocess.run([qemu_binary(), "--version"], capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL).stdout.splitlines()[0]
    except (subprocess.SubprocessError, IndexError, OSError):
        return None
    key = hashlib.sha256(src.read_bytes() + ver.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tinycompress"
    so = cache / f"tc_icount-{key}.so"
    if so.exists():
        return so
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = so.with_suffix(f".{os.getpid()}.tmp")
        p = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(src)],
                           capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            return None
        os.replace(tmp, so)
    except (OSError, subprocess.SubprocessError):
        return None
    return so


# ---------------------------------------------------------------- running and parsing


@dataclass
class _Run:
    outputs: np.ndarray
    events: list[list[tuple[int, int]]]  # per vector: (event id, systick ticks)
    calibration: list[tuple[int, int]]
    marks: list[int] | None  # exact counts at each tc_mark entry, in order
    stack: int
    lines: list[str]


def _mark_address(elf: Path) -> int:
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        syms = symtab.get_symbol_by_name("tc_mark") if symtab else None
    if not syms:
        raise VerificationError(f"{elf}: no tc_mark symbol")
    return syms[0]["st_value"] & ~1


def _run_qemu(elf: Path, machine: Board, n_out: int, *, plugin: Path | None, timeout: float,
              workdir: Path) -> _Run:
    """Runs one image; outputs are the bytes of every output per vector, (N, n_out) uint8."""
    cmd = [qemu_binary(), "-M", machine.name, "-display", "none", "-monitor", "none",
           "-serial", "none", "-semihosting-config", "enable=on,target=native",
           "-icount", "shift=0,align=off,sleep=off", "-kernel", str(elf)]
    marks_file = workdir / f"{elf.stem}.marks"
    if plugin is not None:
        marks_file.unlink(missing_ok=True)
        cmd += ["-plugin", f"{plugin},mark=0x{_mark_address(elf):x},out={marks_file}"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        raise VerificationError(f"{QEMU} -M {machine.name} did not finish within {timeout:g} s "
                                "(the program hung or the model is too slow for the timeout)"
                                ) from None
    text = p.stderr + p.stdout
    lines = [ln for ln in text.splitlines() if ln.startswith("TC ")]
    fault = next((ln for ln in lines if ln.startswith("TC FAULT")), None)
    if fault:
        raise VerificationError(f"the model faulted on {machine.name}: {fault[3:]}")
    if p.returncode != 0 or not any(ln.startswith("TC END") for ln in lines):
        tail = "\n".join(text.strip().splitlines()[-8:])
        raise VerificationError(f"{QEMU} -M {machine.name} exited with {p.returncode}:\n{tail}")
    errors = [ln[3:] for ln in lines if ln.startswith("TC ERR")]
    if errors:
        raise VerificationError(f"harness on {machine.name}: {'; '.join(errors)}")

    outputs, events, calibration, stack = {}, {}, [], 0
    for ln in lines:
        parts = ln.split()
        tag = parts[1]
        if tag == "O":
            hexs = parts[3] if len(parts) > 3 else ""
            outputs[int(parts[2])] = np.frombuffer(bytes.fromhex(hexs), dtype=np.uint8)
        elif tag in ("E", "C"):
            evs = [(int(a, 16), int(b, 16)) for a, b in (x.split(":") for x in parts[3:])]
            if tag == "C":
                calibration = evs
            else:
                events[int(parts[2])] = evs
        elif tag == "STACK":
            stack = int(parts[2])
    n = len(outputs)
    if sorted(outputs) != list(range(n)) or sorted(events) != list(range(n)):
        raise VerificationError(f"harness output on {machine.name} is incomplete")
    out = np.stack([outputs[i] for i in range(n)]) if n else np.zeros((0, n_out), np.uint8)
    if out.shape[1:] != (n_out,):
        raise VerificationError(f"harness printed {out.shape[1]} output bytes, expected {n_out}")
    marks = None
    if plugin is not None:
        try:
            mlines = marks_file.read_text().splitlines()
        except FileNotFoundError:
            raise VerificationError("the counting plugin wrote no output") from None
        marks = [int(x) for x in mlines if x.isdigit()]  # "total N" is the last line
        expected = len(calibration) + sum(len(events[i]) for i in range(n))
        if len(marks) != expected:
            raise VerificationError(f"counting plugin saw {len(marks)} hook calls, harness "
                                    f"logged {expected}")
    return _Run(out, [events[i] for i in range(n)], calibration, marks, stack, lines)


def _counts(evs: list[tuple[int, int]], cal: float, n_layers: int):
    """(total, per-layer) from one vector's (event, time) list; times in instructions."""
    begin = end = None
    layer = [0.0] * n_layers
    open_at: dict[int, float] = {}
    hooks_inside = 0
    for ev, t in evs:
        if ev == EV_INFER_BEGIN:
            begin = t
        elif ev == EV_INFER_END:
            end = t
        else:
            hooks_inside += 1
            idx = ev >> 1
            if ev & 1 == 0:
                open_at[idx] = t
            elif idx in open_at:
                if idx >= len(layer):
                    layer.extend([0.0] * (idx + 1 - len(layer)))
                layer[idx] += t - open_at.pop(idx) - cal
    if begin is None or end is None:
        raise VerificationError("harness event log lacks the inference begin/end marks")
    total = end - begin - (hooks_inside + 1) * cal
    return total, layer


def check_inputs(manifest: dict, inputs) -> list[np.ndarray]:
    """The test inputs as one array (N, size_k) per model input: `inputs` is that list, or for a
    one-input model an array (N, size) (or (N, *shape), or one vector). UserError on a wrong
    dtype, size or count."""
    specs = manifest["inputs"]
    xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(xs) != len(specs):
        raise UserError(f"the model takes {len(specs)} inputs, got {len(xs)} arrays of test "
                        "inputs: give one per input, in order")
    out = []
    for x, spec in zip(xs, specs):
        x, size, dtype = np.asarray(x), int(spec["size"]), spec.get("dtype", "int8")
        if x.dtype != np.dtype(dtype):
            raise UserError(f"test inputs must be {dtype}, got {x.dtype}; quantize them first")
        x = x.reshape(len(x), -1) if x.ndim != 1 else x.reshape(1, -1)
        if x.shape[1] != size:
            raise UserError(f"test inputs have {x.shape[1]} values per vector, the model "
                            f"expects {size}")
        out.append(x)
    if len({len(x) for x in out}) != 1:
        raise UserError("the arrays of test inputs hold different numbers of vectors")
    return out


def split_outputs(raw: np.ndarray, specs: list[dict]) -> list[np.ndarray]:
    """(N, bytes) of the outputs back to back -> one array (N, size_k) per output, its dtype."""
    result, offset = [], 0
    for spec in specs:
        dtype = np.dtype(spec.get("dtype", "int8"))
        nbytes = int(spec["size"]) * dtype.itemsize
        chunk = np.ascontiguousarray(raw[:, offset:offset + nbytes])
        result.append(chunk.view(dtype).reshape(len(raw), int(spec["size"])))
        offset += nbytes
    return result


def _probe(builder, inputs, board: Board, machine, in_bytes: int):
    """Links a one-vector image: its sizes (whole image and the model's objects), the substitution
    note, and the batch size, what the test-data region (or the flash left over) holds."""
    probe = builder.link([x[:1] for x in inputs], "probe", use_testdata=machine.testdata_region is not None)
    note = substitution_note(board, machine)
    if note is not None:  # Armv6-M code on an Armv7-M machine (boards.runs_on)
        isa.check_armv6m(probe.elf)
    sizes = elfsize.measure(probe.elf)
    model_sizes = elfsize.map_shares(probe.map, builder.model_objects)
    if machine.testdata_region is not None:
        room = machine.testdata_region.size
    else:
        room = machine.code_region.size - sizes.flash - 256
    if room < in_bytes:
        raise UserError(f"one test vector ({in_bytes} bytes) does not fit next to the model "
                        f"on {machine.name}")
    per_batch = max(1, min(MAX_VECTORS_PER_RUN, room // max(in_bytes, 1)))
    return probe, sizes, model_sizes, note, per_batch


def _vector_counts(r, exact: bool, machine, n_layers: int):
    """(total, per layer) instructions of each vector of one QEMU run: the plugin's marks when
    counting exactly, else SysTick ticks scaled to nanoseconds; less the calibration's count."""
    if exact:
        it = iter(r.marks)
        cal_ev = [(e, next(it)) for e, _ in r.calibration]
        vec_ev = [[(e, next(it)) for e, _ in evs] for evs in r.events]
        scale = 1.0
    else:
        cal_ev, vec_ev, scale = r.calibration, r.events, 1e9 / machine.systick_hz
    cal = (cal_ev[1][1] - cal_ev[0][1]) * scale
    return [_counts([(e, t * scale) for e, t in evs], cal, n_layers) for evs in vec_ev]


def run(outdir: Path | str, board: Board | str, inputs, workdir: Path | str | None = None,
        *, exact: bool = True, timeout: float | None = None) -> QemuResult:
    """Runs the model in OUTDIR on `board`'s QEMU machine for every test vector.

    inputs: one array (N, size_k) per model input, in order, of the input's dtype (int8 or int16);
    a one-input model also takes the array alone ((N, size) or (N, *shape)). The outputs come back
    in each output's dtype: QemuResult.all_outputs, one array per output (outputs: the first).
    exact: use the TCG counting plugin when it can be built (falls back to SysTick).
    workdir: where the build happens (kept); a temporary directory if None.
    timeout: seconds per QEMU run (default 120 + 1 s per vector).
    """
    outdir = Path(outdir).resolve()
    board = get_board(board) if isinstance(board, str) else board
    machine = qemu_board(board)
    manifest = load_manifest(outdir)
    inputs = check_inputs(manifest, inputs)
    in_bytes = sum(x.shape[1] * x.dtype.itemsize for x in inputs)
    out_specs = manifest["outputs"]
    out_size = sum(int(o["size"]) * np.dtype(o.get("dtype", "int8")).itemsize for o in out_specs)
    n_layers = len(manifest.get("layers") or [])

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tc-qemu-")
        workdir = Path(tmp.name)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        plugin = plugin_path() if exact else None
        builder = cortexm.ImageBuilder(outdir, manifest, board, machine, workdir)
        use_td = machine.testdata_region is not None
        probe, sizes, model_sizes, note, per_batch = _probe(builder, inputs, board, machine, in_bytes)

        outs, totals, layers = [], [], []
        cal_method = "exact" if plugin else "systick"
        resolution = 1 if plugin else round(1e9 / machine.systick_hz)
        batches = 0
        elf = probe.elf
        stack = 0
        lines: list[str] = []
        for start in range(0, len(inputs[0]), per_batch):
            chunk = [x[start:start + per_batch] for x in inputs]
            b = builder.link(chunk, f"app{batches}", use_testdata=use_td)
            elf = b.elf
            t = timeout if timeout is not None else 120 + len(chunk[0])
            r = _run_qemu(b.elf, machine, out_size, plugin=plugin, timeout=t, workdir=workdir)
            batches += 1
            stack = max(stack, r.stack)
            lines = r.lines
            for total, per_layer in _vector_counts(r, bool(plugin), machine, n_layers):
                totals.append(total)
                layers.append(per_layer)
            outs.append(r.outputs)
        width = max([n_layers] + [len(x) for x in layers])
        layer_max = [max((round(x[i]) if i < len(x) else 0) for x in layers) if layers else 0
                     for i in range(width)]
        raw = np.concatenate(outs) if outs else np.zeros((0, out_size), np.uint8)
        all_outputs = split_outputs(raw, out_specs)
        return QemuResult(
            board=board.name, machine=machine.name, outputs=all_outputs[0],
            all_outputs=all_outputs,
            instructions=np.array([round(t) for t in totals], dtype=np.int64),
            layer_instructions=layer_max, count_method=cal_method,
            count_resolution=resolution, flash_bytes=sizes.flash,
            static_ram_bytes=sizes.static_ram, stack_bytes=stack,
            model_flash_bytes=model_sizes.flash, model_static_ram_bytes=model_sizes.static_ram,
            cflags=cortexm.core_flags(board) + cortexm.CFLAGS, batches=batches,
            elf=elf if tmp is None else Path(), note=note, raw=lines)
    finally:
        if tmp is not None:
            tmp.cleanup()
