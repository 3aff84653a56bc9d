"""`tinycompress report`: the page renders in headless Chromium with no console error, failed load
or exception, and its plots show manifest.json's figures: every bar, rectangle and budget bar is
found by its SVG id and its rendered size (getBBox) is compared with the manifest's numbers, read
here independently of the report code. Models: the MLPerf Tiny KWS model dense (compiled for a
board and measured by a QEMU verify) and pruned + shared (compiled with --weights auto)."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from browser import Browser, chromium
from report_models import KWS, compressed_tflite
from tinycompress.cli import main
import tinycompress
from tinycompress.report_html import build_report
from tinycompress.results import ReportResult

BOARD = "nucleo-f446re"
TOL = 1e-4  # of the tallest bar (SVG coordinates are written to 6 decimals)
BYTES_TOL = 2  # bytes, in the memory plan (its buffers are multiples of 16 bytes)

pytestmark = pytest.mark.skipif(not KWS.is_file(), reason=f"needs {KWS} (shared/ models)")

GEOMETRY_JS = """JSON.stringify(Array.from(document.querySelectorAll('svg [id]'))
  .filter(e => /-(area|bar-\\d+|dense-\\d+|buf-\\d+|stage-\\d+|item-\\d+)$/.test(e.id))
  .map(e => { const b = e.getBBox(); return [e.id, b.x, b.y, b.width, b.height]; }))"""


def browser_or_skip() -> str:
    exe = chromium()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: setup.sh installs it (APT_PACKAGES)")
        pytest.skip("needs chromium (setup.sh installs it)")
    return exe


def compile_kws(out, *args, model=KWS):
    assert main(["compile", str(model), "-o", str(out), *args]) == 0
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """KWS compiled for BOARD and measured there by a QEMU verify."""
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc (setup.sh installs them)")
    out = tmp_path_factory.mktemp("dense") / "kws"
    compile_kws(out, "--board", BOARD)
    assert main(["verify", str(out), "--target", "qemu", "--board", BOARD, "--vectors", "2"]) == 0
    return out


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    """KWS with 80% of every weight matrix zeroed and 8 shared values, --weights auto."""
    d = tmp_path_factory.mktemp("compressed")
    (d / "kws_c.tflite").write_bytes(compressed_tflite())
    compile_kws(d / "kws", "--weights", "auto", model=d / "kws_c.tflite")
    return d / "kws"


def render(outdir, tmp_path, *args):
    """Run the command, open the page in Chromium; (manifest, geometry by id, browser DOM
    facts, the browser's errors). Saves a screenshot beside the page."""
    html = tmp_path / "report.html"
    assert main(["report", str(outdir), "-o", str(html), "--png", str(tmp_path / "png"),
                 *args]) == 0
    with Browser(browser_or_skip(), height=1000) as b:
        b.load(html.as_uri())
        geo = {g[0]: g[1:] for g in json.loads(b.evaluate(GEOMETRY_JS))}
        dom = b.evaluate("""({svgs: document.querySelectorAll('figure svg').length,
            texts: Array.from(document.querySelectorAll('svg text')).map(t => t.textContent),
            width: document.documentElement.scrollWidth,
            rows: Array.from(document.querySelectorAll('#layers tr[data-index]'))
                       .map(r => Object.assign({}, r.dataset))})""")
        (tmp_path / "screenshot.png").write_bytes(b.screenshot())
        errors = list(b.errors)
    return json.loads((outdir / "manifest.json").read_text()), geo, dom, errors


def heights(geo, prefix, n):
    return [geo[f"{prefix}-{i}"][3] for i in range(n)]


def assert_proportional(drawn, values):
    """Bars drawn from zero: each height is its value times one scale."""
    top = max(values)
    assert top > 0 and max(drawn) > 0
    for i, (h, v) in enumerate(zip(drawn, values)):
        assert abs(h / max(drawn) - v / top) <= TOL, (i, h, v)


def assert_layers_centred(geo, key, indices):
    """Bar i is centred on layer i: x = area.x + (i - xmin) / (xmax - xmin) * area.width."""
    ax, _, aw, _ = geo[f"{key}-area"]
    lo, hi = min(indices) - 0.6, max(indices) + 0.6
    for i in indices:
        x, _, w, _ = geo[f"{key}-bar-{i}"]
        assert abs(x + w / 2 - (ax + (i - lo) / (hi - lo) * aw)) < 0.5, (key, i)


def assert_memory_plan(geo, m):
    """Buffer k's rectangle spans its arena range (y, from the bottom) and its layers (x)."""
    ax, ay, aw, ah = geo["memory-area"]
    arena, n = m["arena_bytes"], len(m["layers"])
    lo, hi = -0.6, n - 1 + 0.6
    plan = m["memory_plan"]
    assert plan and max(b["offset"] + b["bytes"] for b in plan) == arena
    for k, b in enumerate(plan):
        x, y, w, h = geo[f"memory-buf-{k}"]
        assert abs(h / ah * arena - b["bytes"]) < BYTES_TOL, (k, b)
        assert abs((ay + ah - y - h) / ah * arena - b["offset"]) < BYTES_TOL, (k, b)
        assert abs(x - (ax + (b["first_layer"] - 0.4 - lo) / (hi - lo) * aw)) < 0.5
        assert abs(x + w - (ax + (b["last_layer"] + 0.4 - lo) / (hi - lo) * aw)) < 0.5


def assert_page_rows(dom, m, measured=None):
    """The per-layer table's data attributes are the manifest's numbers."""
    assert len(dom["rows"]) == len(m["layers"])
    for row, layer in zip(dom["rows"], m["layers"]):
        assert int(row["macs"]) == layer["macs"]
        assert int(row["weightsBytes"]) == layer["weights_bytes"]
        assert int(row["denseWeightsBytes"]) == layer["dense_weights_bytes"]
        if measured is not None:
            assert int(row["instructions"]) == measured[layer["index"]]


@pytest.mark.qemu
def test_dense_report_shows_the_manifest(dense, tmp_path):
    m, geo, dom, errors = render(dense, tmp_path, "--max-latency-ms", "100")
    assert errors == []
    n = len(m["layers"])
    figures = ["macs", "params", "instructions", "memory", "sparsity", "budget"]
    assert dom["svgs"] == len(figures) and all(f"{f}-area" in geo for f in figures)
    assert "waterfall-area" not in geo  # --weights dense records no compression stages
    assert_proportional(heights(geo, "macs-bar", n), [layer["macs"] for layer in m["layers"]])
    assert_proportional(heights(geo, "params-bar", n), [layer["weights_bytes"] for layer in m["layers"]])
    measured = m["measurements"][BOARD]["layer_instructions"]
    assert len(measured) == n and len(set(measured)) > n // 2
    assert_proportional(heights(geo, "instructions-bar", n), measured)
    assert_layers_centred(geo, "macs", range(n))
    assert_memory_plan(geo, m)
    assert_page_rows(dom, m, measured)
    # Budget: flash and RAM of the measured image as shares of the board's, latency (the
    # instructions x CPI / clock) as a share of the budget.
    from tinycompress.boards import get_board
    b, meas = get_board(BOARD), m["measurements"][BOARD]
    latency_ms = meas["instructions_per_inference"] * b.cpi / b.clock_hz * 1e3
    assert_proportional([geo[f"budget-item-{i}"][2] for i in range(3)],
                        [meas["flash_bytes"] / b.flash_bytes, meas["ram_bytes"] / b.ram_bytes,
                         latency_ms / 100])
    assert any(f"instructions per layer on {BOARD}" in t for t in dom["texts"])
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == sorted(f"{f}.png" for f in figures)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in (tmp_path / "png").iterdir())


def test_compressed_report_shows_the_waterfall_and_sparsity(compressed, tmp_path):
    m, geo, dom, errors = render(compressed, tmp_path, "--board", BOARD)
    assert errors == []
    layers = m["layers"]
    stats = [layer["weight_stats"] for layer in layers if layer["weight_stats"]]
    assert len(stats) == 10 and all("stages" in s for s in stats)
    # Independently of the report code: the sums of the per-layer stages.
    keys = ["float32", "int8", "pruned", "shared", "huffman", "stored"]
    totals = [sum(s["stages"][k] if s["stages"][k] is not None else s["stages"]["shared"]
                  for s in stats) for k in keys]
    assert totals[0] == 4 * totals[1] and totals[-1] < totals[1] / 3
    assert_proportional(heights(geo, "waterfall-stage", len(keys)), totals)
    weighted = [layer for layer in layers if layer["weight_stats"]]
    zeros = [1 - s["nonzero"] / s["count"] for s in stats]
    assert all(0.75 < z < 0.85 for z in zeros)
    assert_proportional([geo[f"sparsity-bar-{layer['index']}"][3] for layer in weighted], zeros)
    assert_proportional(heights(geo, "params-bar", len(layers)), [layer["weights_bytes"] for layer in layers])
    assert_proportional(heights(geo, "params-dense", len(layers)),
                        [layer["dense_weights_bytes"] for layer in layers])
    assert "instructions-area" not in geo  # not measured
    assert_memory_plan(geo, m)
    assert_page_rows(dom, m)
    # Not measured on the board: the compile-time figures of the manifest, said as such.
    from tinycompress.boards import get_board
    b = get_board(BOARD)
    assert_proportional([geo["budget-item-0"][2], geo["budget-item-1"][2]],
                        [m["flash_bytes"] / b.flash_bytes, m["ram_bytes"] / b.ram_bytes])
    assert any("compile-time" in t for t in dom["texts"])


def test_manifest_records_the_plan_and_the_stages(compressed):
    """The memory plan: a buffer is written by its first layer (an activation is that layer's
    output tensor), and buffers alive at once never share bytes. The stages: float32 is 4 bytes
    a weight, int8 one, and a sparse layer stores its smallest sparse encoding."""
    m = json.loads((compressed / "manifest.json").read_text())
    plan, layers = m["memory_plan"], m["layers"]
    for b in plan:
        if b["kind"] == "activation":
            assert b["tensor"] == layers[b["first_layer"]]["name"]
        assert 0 <= b["first_layer"] <= b["last_layer"] < len(layers) and b["bytes"] % 16 == 0
    for i, a in enumerate(plan):
        for b in plan[i + 1:]:
            if a["first_layer"] <= b["last_layer"] and b["first_layer"] <= a["last_layer"]:
                assert (a["offset"] + a["bytes"] <= b["offset"]
                        or b["offset"] + b["bytes"] <= a["offset"]), (a, b)
    assert any(b["kind"] == "scratch" for b in plan)  # the compressed convolutions decode rows
    for layer in layers:
        st = layer["weight_stats"]
        if st is None:
            assert layer["op"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
            continue
        s = st["stages"]
        assert s["float32"] == 4 * st["count"] and s["int8"] == st["count"]
        assert s["shared"] <= s["pruned"] and s["stored"] < layer["weights_bytes"]
        if layer["weight_format"].startswith("sparse"):
            assert s["stored"] == s["shared"]


def test_same_outdir_gives_the_same_bytes(compressed):
    a = build_report(compressed, board=BOARD, png=True)
    b = build_report(compressed, board=BOARD, png=True)
    assert a.html == b.html and a.pngs == b.pngs and len(a.pngs) == len(a.figures) == 6
    # The SVG ids of different figures never clash in one page.
    ids = [part.split('"', 1)[0] for part in a.html.split(' id="')[1:]]
    assert len(ids) == len(set(ids))
    # Self-contained: no script, nothing loaded from elsewhere (namespaces are not loads).
    assert "<script" not in a.html and "<link" not in a.html
    assert not re.search(r'\b(src|href)="(?!#)', a.html) and "url(http" not in a.html


def test_json_lists_the_files(compressed, tmp_path, capsys):
    html = tmp_path / "sub" / "r.html"
    assert main(["report", str(compressed), "-o", str(html), "--png", str(tmp_path / "p"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["figures"] == ["macs", "params", "memory", "waterfall", "sparsity"]
    assert sorted(out["pngs"]) == sorted(str(tmp_path / "p" / f"{f}.png") for f in out["figures"])
    assert html.read_text().startswith("<!DOCTYPE html>")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(out, ReportResult.schema())
    api = tinycompress.report(compressed, tmp_path / "api.html")
    assert api.figures == out["figures"] and api.pngs == []
    assert (tmp_path / "api.html").read_bytes() == html.read_bytes()


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, compressed, capsys):
    html = tmp_path / "r.html"
    cases = [
        ([str(tmp_path / "nothing"), "-o", str(html)], "has no manifest.json"),
        ([str(compressed), "-o", str(html), "--board", "no-such-board"], "no-such-board"),
        ([str(compressed), "-o", str(tmp_path)], "is a directory"),
        ([str(compressed), "-o", str(html), "--max-latency-ms", "0"], "must be positive"),
    ]
    for args, words in cases:
        assert main(["report", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and words in err and "\n" not in err, err
        assert not html.exists()


def test_old_manifest_without_plan_or_stats_still_renders(compressed, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(compressed, out)
    m = json.loads((out / "manifest.json").read_text())
    del m["memory_plan"]
    for layer in m["layers"]:
        del layer["weight_stats"]
    (out / "manifest.json").write_text(json.dumps(m))
    r = build_report(out)
    assert r.figures == ["macs", "params"]
    assert "no memory plan: compile again" in r.html


def test_cli_is_registered():
    proc = subprocess.run([sys.executable, "-m", "tinycompress", "report", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--png" in proc.stdout and "--board" in proc.stdout
