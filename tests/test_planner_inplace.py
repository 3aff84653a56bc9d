"""In-place outputs (planner.Alias, the kernel ABI's Kernel.inplace): when the planner writes an
output over an input, and when it must refuse; models whose kernels run in place stay bit-exact
under ASan/UBSan and need a smaller arena."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from graph_builder import graph_model
from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu
from tflite_builder import _PADDING, T
from tinycompress.compiler import compile_tflite
from tinycompress.ir import Graph, Op, Quant, Tensor
from tinycompress.planner import ALIGN, Alias, plan

Q = Quant((0.1,), (0,))
ELEMENTWISE = (Alias(0, 0),)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def chain(n: int, size: int = 100, dtype: str = "int8") -> Graph:
    """in -> t0 -> t1 -> ... -> t{n-1} (the graph output), one unary op each."""
    tensors = {"in": Tensor("in", (size,), "int8", Q)}
    ops, prev = [], "in"
    for i in range(n):
        tensors[f"t{i}"] = Tensor(f"t{i}", (size,), dtype if i == 1 else "int8", Q)
        ops.append(Op("RELU", [prev], [f"t{i}"], index=i, name=f"t{i}"))
        prev = f"t{i}"
    return Graph(tensors, ops, ["in"], [prev])


def test_chain_in_place_shares_one_buffer():
    g = chain(5)
    p = plan(g, aliases={i: ELEMENTWISE for i in range(5)})
    # t0 is written over nothing (the input is the caller's), t1..t3 over t0; t4 is the output.
    assert set(p.inplace) == {1, 2, 3}
    assert {p.storage[f"t{i}"] for i in range(4)} == {("arena", 0)}
    assert p.arena_bytes == _align(100)
    (buf,) = p.buffers
    assert buf.kind == "tensor" and buf.tensor == "t0" and buf.shares == ("t1", "t2", "t3")
    assert plan(g).arena_bytes == 2 * _align(100)  # without the offers: the greedy plan


def test_refused_when_the_input_is_read_later():
    """A branch: t0 feeds op 1 and op 2, so op 1 cannot overwrite it."""
    tensors = {n: Tensor(n, (64,), "int8", Q) for n in ("in", "t0", "t1", "t2", "y")}
    ops = [Op("RELU", ["in"], ["t0"]), Op("RELU", ["t0"], ["t1"]), Op("RELU", ["t0"], ["t2"]),
           Op("ADD", ["t1", "t2"], ["y"])]
    p = plan(Graph(tensors, ops, ["in"], ["y"]), aliases={1: ELEMENTWISE, 2: ELEMENTWISE})
    assert set(p.inplace) == {2}  # op 2 is t0's last reader
    assert p.storage["t2"] == p.storage["t0"] != p.storage["t1"]


def test_refused_over_caller_buffers_and_across_parts():
    g = chain(3, dtype="int16")  # t1 is int16: another arena part
    p = plan(g, aliases={i: ELEMENTWISE for i in range(3)})
    assert p.inplace == {}  # op 0 reads the input, op 1 changes part, op 2 writes the output


def test_refused_when_another_input_shares_the_storage():
    tensors = {n: Tensor(n, (32,), "int8", Q) for n in ("in", "a", "b", "y")}
    ops = [Op("RELU", ["in"], ["a"]), Op("ADD", ["a", "a"], ["b"]), Op("RELU", ["b"], ["y"])]
    p = plan(Graph(tensors, ops, ["in"], ["y"]), aliases={1: (Alias(0, 0), Alias(0, 1))})
    assert p.inplace == {}


def test_extra_scratch_only_when_taken():
    g = chain(3)
    p = plan(g, {1: 10, 2: 10}, aliases={1: (Alias(0, 0, 48),), 2: (Alias(0, 0, 48),)})
    assert p.inplace == {1: Alias(0, 0, 48)}  # op 2 writes the graph output
    assert p.scratch_bytes == {1: 12 + 48, 2: 10}


# --- whole models, compiled and run on the host under ASan/UBSan ------------------------------

def dw_chain(h, w, c, mult, k, stride, dil, padding, seed=0, batch=1) -> bytes:
    """x -> ADD (a) -> DEPTHWISE_CONV_2D (d) -> ADD (y): the depthwise conv's input is an
    activation that dies there, so only its shapes decide whether it runs in place."""
    rng = np.random.default_rng(seed)
    oc = c * mult
    tensors = {
        "x": T((batch, h, w, c), scale=0.05, zero_point=-3),
        "c0": T((1, 1, 1, c), scale=0.05, zero_point=0, data=rng.integers(-60, 60, (1, 1, 1, c))),
        "a": T((batch, h, w, c), scale=0.08, zero_point=2),
        "f": T((1, k, k, oc), scale=0.02, data=rng.integers(-127, 128, (1, k, k, oc))),
        "bias": T((oc,), "int32", scale=0.08 * 0.02, data=rng.integers(-900, 900, oc)),
        "d": T((1, 0, 0, oc), scale=0.15, zero_point=-1),
        "c1": T((1, 1, 1, oc), scale=0.15, zero_point=0,
                data=rng.integers(-30, 30, (1, 1, 1, oc))),
        "y": T((1, 0, 0, oc), scale=0.2, zero_point=1),
    }
    oh = h if padding == "SAME" else h - dil * (k - 1)
    ow = w if padding == "SAME" else w - dil * (k - 1)
    oh, ow = -(-oh // stride), -(-ow // stride)
    tensors["d"].shape = tensors["y"].shape = (batch, oh, ow, oc)
    ops = [("ADD", ["x", "c0"], ["a"], {}),
           ("DEPTHWISE_CONV_2D", ["a", "f", "bias"], ["d"],
            dict(padding=_PADDING[padding], stride_h=stride, stride_w=stride, depth_multiplier=mult,
                 dilation_h_factor=dil, dilation_w_factor=dil)),
           ("ADD", ["d", "c1"], ["y"], {})]
    return graph_model(tensors, ops, ["x"], ["y"])


def _dw_in_place(manifest: dict) -> bool:
    rows = [r for r in manifest["memory_plan"] if r["kind"] == "activation"]
    return any(r["shares"] for r in rows)


def test_depthwise_in_place_is_bit_exact_and_shrinks_the_arena():
    h, w, c = 9, 6, 8
    m = assert_bit_exact(dw_chain(h, w, c, 1, 3, 1, 1, "SAME"), count=4)
    assert _dw_in_place(m)
    # a and d share one buffer; the scratch is the ring of two output rows.
    assert m["arena_bytes"] == _align(h * w * c) + _align(2 * w * c)
    assert m["arena_bytes"] < 2 * h * w * c


def test_depthwise_in_place_over_batches():
    m = assert_bit_exact(dw_chain(7, 5, 8, 1, 3, 1, 1, "SAME", batch=2), count=3)
    assert _dw_in_place(m)


@pytest.mark.parametrize("mult,stride,padding", [(1, 2, "SAME"), (1, 1, "VALID"), (2, 1, "SAME")])
def test_depthwise_in_place_refused(mult, stride, padding):
    """Stride 2, an output smaller than the input, a depth multiplier: the output rows would
    not lie over their input rows."""
    m = assert_bit_exact(dw_chain(7, 6, 4, mult, 3, stride, 1, padding), count=3)
    assert not _dw_in_place(m)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(1, 7), w=st.integers(1, 6), c=st.integers(1, 6), mult=st.sampled_from([1, 2]),
       k=st.sampled_from([1, 2, 3, 5]), stride=st.sampled_from([1, 2]), dil=st.sampled_from([1, 2]),
       padding=st.sampled_from(["SAME", "VALID"]), seed=st.integers(0, 2**16))
def test_depthwise_in_place_shapes(h, w, c, mult, k, stride, dil, padding, seed):
    if padding == "VALID" and min(h, w) <= dil * (k - 1):
        return  # no output
    tflite = dw_chain(h, w, c, mult, k, stride, dil, padding, seed)
    m = assert_bit_exact(tflite, count=2, seed=seed)
    allowed = stride == 1 and mult == 1 and (padding == "SAME" or k == 1)
    ring = ((k - 1) * dil // 2 + 1) * w * c  # pad-top + 1 output rows
    # Taken exactly where the shapes allow it and the ring is smaller than a second buffer.
    assert _dw_in_place(m) == (allowed and _align(ring) < _align(h * w * c))


def test_elementwise_in_place_over_the_dying_input():
    """x -> ADD (a) -> LOGISTIC (b) -> MUL (b, b2) ... : each output over the input it kills."""
    tensors = {"x": T((1, 40), scale=0.05, zero_point=-3),
               "k": T((1, 40), scale=0.05, data=np.arange(-20, 20).reshape(1, 40)),
               "a": T((1, 40), scale=0.06, zero_point=1),
               "b": T((1, 40), scale=1 / 256, zero_point=-128),
               "y": T((1, 40), scale=0.01, zero_point=4)}
    ops = [("ADD", ["x", "k"], ["a"], {}), ("LOGISTIC", ["a"], ["b"], None),
           ("MUL", ["b", "a2"], ["y"], {})]
    tensors["a2"] = T((1, 40), scale=0.06, zero_point=1)
    ops.insert(1, ("ADD", ["a", "k"], ["a2"], {}))
    tflite = graph_model(tensors, ops, ["x"], ["y"])
    m = assert_bit_exact(tflite, count=4)
    _, manifest = compile_tflite(tflite, name="m")
    (shared,) = [r for r in manifest["memory_plan"] if r["shares"]]
    assert shared["tensor"] == "a" and shared["shares"] == ["b"]  # a2 is read after b is made
    assert m["arena_bytes"] == 2 * _align(40)


# --- the DSP kernels (Cortex-M4 under QEMU) ---------------------------------------------------

def on_qemu(test):
    for mark in QEMU_MARKS:
        test = mark(test)
    return test


def conv_chain(h, w, cin, cout, k=1, stride=1, padding="SAME", seed=0) -> bytes:
    """x -> ADD (a) -> CONV_2D (d) -> ADD (y)."""
    rng = np.random.default_rng(seed)
    oh, ow = (-(-h // stride), -(-w // stride)) if padding == "SAME" else (
        (h - k) // stride + 1, (w - k) // stride + 1)
    tensors = {
        "x": T((1, h, w, cin), scale=0.05, zero_point=-3),
        "c0": T((1, 1, 1, cin), scale=0.05, data=rng.integers(-60, 60, (1, 1, 1, cin))),
        "a": T((1, h, w, cin), scale=0.08, zero_point=2),
        "f": T((cout, k, k, cin), scale=0.01, data=rng.integers(-127, 128, (cout, k, k, cin))),
        "bias": T((cout,), "int32", scale=0.08 * 0.01, data=rng.integers(-900, 900, cout)),
        "d": T((1, oh, ow, cout), scale=0.1 * k, zero_point=-1),
        "c1": T((1, 1, 1, cout), scale=0.1 * k, data=rng.integers(-30, 30, (1, 1, 1, cout))),
        "y": T((1, oh, ow, cout), scale=0.2 * k, zero_point=1),
    }
    ops = [("ADD", ["x", "c0"], ["a"], {}),
           ("CONV_2D", ["a", "f", "bias"], ["d"],
            dict(padding=_PADDING[padding], stride_h=stride, stride_w=stride)),
           ("ADD", ["d", "c1"], ["y"], {})]
    return graph_model(tensors, ops, ["x"], ["y"])


@on_qemu
@pytest.mark.parametrize("h,w,c,k,padding", [(9, 5, 16, 3, "SAME"), (6, 4, 8, 5, "SAME"),
                                             (5, 3, 12, 1, "VALID")])
def test_dsp_depthwise_in_place_on_m4(h, w, c, k, padding):
    m = assert_bit_exact_on_qemu(dw_chain(h, w, c, 1, k, 1, 1, padding), "mps2-an386", count=3)
    assert m["layers"][1]["variant"].startswith("dsp_w") and _dw_in_place(m)
    if padding == "SAME":  # straight over the input: the scratch is the padded input ring alone
        assert m["arena_bytes"] == _align(h * w * c) + _align(2 * k * (w + k - 1) * c)


@on_qemu
@pytest.mark.parametrize("h,w,cin,cout,k,stride,padding,inplace", [
    (5, 5, 16, 16, 1, 1, "SAME", True),    # pointwise: stored as computed
    (3, 3, 16, 8, 1, 1, "SAME", True),     # a last odd pixel
    (3, 5, 7, 5, 1, 1, "SAME", True),      # channel tails (the byte im2col)
    (4, 4, 8, 12, 1, 1, "SAME", False),    # more output channels: would overwrite unread pixels
    (8, 8, 8, 16, 1, 2, "VALID", True),    # a ResNet shortcut: 1x1 stride 2, twice the channels
    (12, 10, 8, 8, 3, 1, "SAME", True),    # 3x3: through the ring of output pixels
    (15, 9, 6, 5, 5, 1, "SAME", True),     # 5x5, fewer output channels, an odd pixel count
    (6, 6, 8, 8, 3, 1, "SAME", False),     # a ring over a quarter of the output: refused
])
def test_dsp_conv_in_place_on_m4(h, w, cin, cout, k, stride, padding, inplace):
    m = assert_bit_exact_on_qemu(conv_chain(h, w, cin, cout, k, stride, padding), "mps2-an386",
                                 count=3)
    assert m["layers"][1]["variant"] in ("dsp_w16", "dsp_w8")
    assert _dw_in_place(m) == inplace


def _conv_layer(h, w, cin, cout, k, stride, dil, padding, batches):
    from types import SimpleNamespace

    from tinycompress.ops._conv_common import axes
    eff = (k - 1) * dil + 1
    oh, ow = ((-(-h // stride), -(-w // stride)) if padding == "SAME"
              else ((h - eff) // stride + 1, (w - eff) // stride + 1))
    ay, ax = axes((batches, h, w, cin), k, k, dict(stride_h=stride, stride_w=stride,
                                                    dilation_h_factor=dil, dilation_w_factor=dil),
                  (batches, oh, ow, cout))
    return SimpleNamespace(ay=ay, ax=ax, batches=batches, n_in=cin, n_out=cout, k_h=k, k_w=k)


@settings(max_examples=150, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), cin=st.integers(1, 9), cout=st.integers(1, 9),
       k=st.sampled_from([1, 2, 3, 5]), stride=st.sampled_from([1, 2, 3]),
       dil=st.sampled_from([1, 2]), padding=st.sampled_from(["SAME", "VALID"]),
       batches=st.integers(1, 2))
def test_conv_in_place_delay_is_safe(h, w, cin, cout, k, stride, dil, padding, batches):
    """Replay the DSP kernel's schedule byte by byte: two pixels a pass read, then with delay D
    every pixel before n - D stored over the input; no pass may read a byte already stored
    over."""
    from tinycompress.ops.conv_2d import in_place_delay
    if padding == "VALID" and min(h, w) < (k - 1) * dil + 1:
        return
    cv = _conv_layer(h, w, cin, cout, k, stride, dil, padding, batches)
    delay = in_place_delay(cv)
    if delay is None:
        assert cout > cin  # only an output that outgrows its input is refused outright
        return
    ay, ax = cv.ay, cv.ax
    n_pix = batches * ay.out * ax.out
    clobbered = np.zeros(max(batches * h * w * cin, n_pix * cout), dtype=bool)
    stored = 0
    for p in range(0, n_pix, 2):
        for q in range(p, min(p + 2, n_pix)):
            b, r = divmod(q, ay.out * ax.out)
            (oy, ox) = divmod(r, ax.out)
            (y0, y1), (x0, x1) = ay.taps(oy), ax.taps(ox)
            for ky in range(y0, y1):
                for kx in range(x0, x1):
                    iy = oy * ay.stride - ay.pad + ky * ay.dilation
                    ix = ox * ax.stride - ax.pad + kx * ax.dilation
                    at = ((b * h + iy) * w + ix) * cin
                    assert not clobbered[at:at + cin].any(), (q, iy, ix)
        n = min(p + 2, n_pix)
        while stored < n - delay:
            clobbered[stored * cout:(stored + 1) * cout] = True
            stored += 1


def test_a_costly_alias_is_dropped_where_it_does_not_lower_the_peak():
    """in -> t0 (100 B) -> t1 (100 B) -> t2 (400 B) -> t3: the peak is t1 + t2; op 1 in place
    through a ring (extra scratch) would not lower it, so the kernel is spared the copies,
    while op 3's free alias stays."""
    tensors = {"in": Tensor("in", (8,), "int8", Q)}
    for name, size in (("t0", 100), ("t1", 100), ("t2", 400), ("t3", 400), ("y", 400)):
        tensors[name] = Tensor(name, (size,), "int8", Q)
    ops = [Op("RELU", ["in"], ["t0"]), Op("RELU", ["t0"], ["t1"]), Op("CAST", ["t1"], ["t2"]),
           Op("RELU", ["t2"], ["t3"]), Op("RELU", ["t3"], ["y"])]
    g = Graph(tensors, ops, ["in"], ["y"])
    p = plan(g, aliases={1: (Alias(0, 0, 32),), 3: ELEMENTWISE})
    assert p.inplace == {3: Alias(0, 0)}
    assert p.arena_bytes == _align(100) + _align(400)


def add_chain(n=48) -> bytes:
    """x -> ADD (a) -> ADD (b, over a) -> ADD (y): same-shape operands, one constant."""
    rng = np.random.default_rng(3)
    tensors = {"x": T((1, n), scale=0.05, zero_point=-3),
               "k": T((1, n), scale=0.04, zero_point=1, data=rng.integers(-90, 90, (1, n))),
               "a": T((1, n), scale=0.07, zero_point=2),
               "b": T((1, n), scale=0.09, zero_point=-4),
               "y": T((1, n), scale=0.1, zero_point=0)}
    ops = [("ADD", ["x", "k"], ["a"], {}), ("ADD", ["a", "k"], ["b"], {}),
           ("ADD", ["b", "k"], ["y"], {})]
    return graph_model(tensors, ops, ["x"], ["y"])


@on_qemu
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])  # DSP ADD, Helium ADD
def test_add_in_place_on_cortex_m(board):
    m = assert_bit_exact_on_qemu(add_chain(), board, count=4)
    assert (m["layers"][1]["kernel"] == "kernels/add_s8_mve.c.j2") == (board == "mps3-an547")
    (shared,) = [r for r in m["memory_plan"] if r["shares"]]
    assert shared["tensor"] == "a" and shared["shares"] == ["b"]
