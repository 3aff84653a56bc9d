"""The figures a report shows, taken from OUTDIR/manifest.json and nothing else: per-layer MACs,
parameter bytes, instructions (when a QEMU verify measured them) and sparsity, the memory plan,
and the compression waterfall (when the model was compiled with compressed --weights).

Every number here is the manifest's own (sums of its per-layer fields at most), so a test can
check the plots against manifest.json."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..report import layer_label

MEASUREMENTS_KEY = "measurements"
STAGES = (("float32", "float32"), ("int8", "INT8"), ("pruned", "pruned"),
          ("shared", "weight sharing"), ("huffman", "Huffman"), ("stored", "stored"))


@dataclass
class LayerRow:
    index: int
    label: str
    op: str
    weight_format: str
    macs: int
    weights_bytes: int
    dense_weights_bytes: int
    instructions: int | None = None
    sparsity: float | None = None  # fraction of zero weights (layers with a weight matrix)


@dataclass
class BufferRow:
    label: str
    kind: str
    offset: int
    bytes: int
    first_layer: int
    last_layer: int


@dataclass
class Stage:
    key: str
    label: str
    bytes: int


@dataclass
class ReportData:
    manifest: dict
    layers: list[LayerRow]
    buffers: list[BufferRow]
    stages: list[Stage] = field(default_factory=list)  # empty: no compression figures
    instructions_board: str | None = None
    instructions_total: int | None = None

    @property
    def compressed(self) -> bool:
        return bool(self.stages)

    @property
    def weight_layers(self) -> list[LayerRow]:
        return [r for r in self.layers if r.sparsity is not None]


def measured_board(manifest: dict, board: str | None) -> str | None:
    """The board whose QEMU measurements the report shows: the one asked for (or compiled for)
    when it was measured, else the first measured one in name order (the plot names it), else
    None."""
    measured = manifest.get(MEASUREMENTS_KEY) or {}
    wanted = board or manifest.get("board")
    if wanted in measured:
        return wanted
    return sorted(measured)[0] if measured else None


def layer_rows(manifest: dict, instructions: list[int] | None) -> list[LayerRow]:
    rows = []
    for i, layer in enumerate(manifest["layers"]):
        stats = layer.get("weight_stats")
        sparsity = None
        if stats and stats["count"]:
            sparsity = 1 - stats["nonzero"] / stats["count"]
        rows.append(LayerRow(
            index=layer["index"], label=layer_label(layer["name"]), op=layer["op"],
            weight_format=layer["weight_format"], macs=int(layer["macs"]),
            weights_bytes=int(layer["weights_bytes"]),
            dense_weights_bytes=int(layer["dense_weights_bytes"]),
            instructions=None if instructions is None else int(instructions[i]),
            sparsity=sparsity))
    return rows


def buffer_rows(manifest: dict) -> list[BufferRow]:
    """The memory plan, each buffer labelled by the layer that writes it."""
    rows = []
    for b in manifest.get("memory_plan") or []:
        what = "scratch" if b["kind"] == "scratch" else "out"
        if b.get("shares"):  # views and in-place outputs in the same bytes
            what += f" +{len(b['shares'])} shared"
        rows.append(BufferRow(label=f"L{b['first_layer']} {what}", kind=b["kind"],
                              offset=int(b["offset"]), bytes=int(b["bytes"]),
                              first_layer=int(b["first_layer"]), last_layer=int(b["last_layer"])))
    return rows


def stages(manifest: dict) -> list[Stage]:
    """The waterfall: each stage's bytes summed over the weight matrices. A layer whose weights
    cannot be Huffman coded counts its shared-weight bytes at that stage (it would stay so)."""
    per_layer = [s["stages"] for s in (layer.get("weight_stats") for layer in manifest["layers"])
                 if s and "stages" in s]
    if not per_layer:
        return []
    out = []
    for key, label in STAGES:
        total = sum(st[key] if st[key] is not None else st["shared"] for st in per_layer)
        out.append(Stage(key, label, int(total)))
    return out


def report_data(manifest: dict, board: str | None = None) -> ReportData:
    measured = measured_board(manifest, board)
    instructions = total = None
    if measured is not None:
        m = manifest[MEASUREMENTS_KEY][measured]
        if len(m.get("layer_instructions") or []) == len(manifest["layers"]):
            instructions = m["layer_instructions"]
            total = m.get("instructions_per_inference")
        else:
            measured = None
    return ReportData(manifest=manifest, layers=layer_rows(manifest, instructions),
                      buffers=buffer_rows(manifest), stages=stages(manifest),
                      instructions_board=measured, instructions_total=total)
