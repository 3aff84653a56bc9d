"""Human-readable summaries (rich tables) of compile and verify results."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

console = Console(stderr=False)


def _kb(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KiB)"


def layer_label(name: str) -> str:
    """A layer's name for a table: the scopes between the model and the op of its first tensor
    name ('lenet5_1/conv1_1/Relu;...' -> 'conv1_1'), or the whole first name when it has none."""
    parts = name.split(";")[0].split("/")
    return "/".join(parts[1:-1]) if len(parts) >= 3 else parts[0] if len(parts) == 1 else "/".join(parts)


def print_compile_summary(s: dict) -> None:
    t = Table(title=f"compiled '{s['name']}' -> {s['outdir']}", show_header=False)
    if s.get("src_dir"):
        t.add_row("generated C", f"{s['src_dir']}/ (include path; compile its .c files)")
    t.add_row("operators", ", ".join(f"{k} x{v}" for k, v in s["ops"].items()))
    t.add_row("layers emitted", str(s["layers"]))
    t.add_row("MACs / inference", f"{s['macs']:,}")
    t.add_row("weights (flash)", _kb(s["weights_bytes"]))
    t.add_row("code + weights (flash)", f"{_kb(s['flash_bytes'])}  [{s['flash_source']}]")
    t.add_row("arena (RAM)", _kb(s["arena_bytes"]))
    if s.get("state_bytes"):
        t.add_row("state (RAM, kept between invocations)", _kb(s["state_bytes"]))
    rec = s.get("recognised")
    if rec:
        chosen = ", ".join(f"{k} {v}" for k, v in rec["chosen"].items()) or "nothing"
        t.add_row("recognised", f"{' + '.join(rec['steps'])} model: chose {chosen}"
                  + (f" (flags override {', '.join(rec['overridden'])})" if rec["overridden"] else ""))
    console.print(t)
    detail = s.get("per_layer") or []
    if any(layer["weights_bytes"] for layer in detail):
        lt = Table(title=f"parameter bytes per layer (--weights {s.get('weights', 'dense')})")
        for col in ("#", "layer", "op", "format", "bytes", "dense bytes", "saved"):
            lt.add_column(col, justify="right" if col in ("#", "bytes", "dense bytes", "saved")
                          else "left")
        for i, layer in enumerate(detail):
            b, d = layer["weights_bytes"], layer["dense_weights_bytes"]
            lt.add_row(str(i), layer_label(layer["name"]), layer["op"], layer["weight_format"], f"{b:,}",
                       f"{d:,}", f"{100 * (d - b) / d:.0f}%" if d else "-")
        console.print(lt)


def print_verify_summary(r: dict) -> None:
    ok = r["bit_exact"]
    t = Table(title=f"verify on {r['target']}" + (f" ({r['board']})" if r.get("board") else ""),
              show_header=False)
    t.add_row("vectors", str(r["vectors"]))
    t.add_row("bit-exact", "[green]yes[/green]" if ok else "[red]NO[/red]")
    t.add_row("mismatched elements", str(r["mismatches"]))
    t.add_row("max |difference|", str(r["max_abs_diff"]))
    outputs = r.get("outputs") or []
    if len(outputs) > 1:
        for k, o in enumerate(outputs):
            verdict = "[green]bit-exact[/green]" if o["bit_exact"] else (
                f"[red]{o['mismatches']} mismatched[/red], max |difference| {o['max_abs_diff']}")
            t.add_row(f"output {k} '{o['name']}' {o['shape']}", verdict)
    if "first_mismatch" in r:
        fm = r["first_mismatch"]
        where = f"output {fm['output']} " if len(outputs) > 1 else ""
        t.add_row("first mismatch", f"{where}vector {fm['vector']} element {fm['index']}: "
                                    f"got {fm['got']}, expected {fm['expected']}")
    if "accuracy" in r:
        t.add_row("top-1 accuracy (C)", f"{100 * r['accuracy']:.2f}%")
    if "instructions_per_inference" in r:
        t.add_row("instructions / inference", f"{r['instructions_per_inference']:,}")
    console.print(t)
    layers = r.get("layers") or []
    if layers:
        total = r.get("instructions_per_inference") or sum(layer["instructions"] for layer in layers) or 1
        lt = Table(title=f"per layer on {r.get('board', r['target'])} (instructions: most over the vectors)")
        for col in ("#", "layer", "op", "format", "bytes", "instructions", "share"):
            lt.add_column(col, justify="right" if col in ("#", "bytes", "instructions", "share") else "left")
        for i, layer in enumerate(layers):
            lt.add_row(str(i), layer_label(layer["name"]), layer["op"], layer["weight_format"],
                       f"{layer['weights_bytes']:,}",
                       f"{layer['instructions']:,}", f"{100 * layer['instructions'] / total:.1f}%")
        console.print(lt)
