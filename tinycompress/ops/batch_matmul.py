"""BATCH_MATMUL, int8 (batch_matmul.cc EvalInt8Int8 -> reference_ops::BatchMatMul<int8_t, int32_t>).

out[..., m, n] = sum over k of (L[..., m, k] - lhs_zp) * (R[..., k, n] - rhs_zp), where L is the
lhs, or with adj_x its last two dimensions swapped, and R likewise the rhs with adj_y. The batch
dimensions (all but the last two, ranks 2 to 5) broadcast as numpy's. Each int32 sum is
requantised per tensor by double(lhs_scale) * double(rhs_scale) / double(out_scale)
(QuantizeMultiplier) with gemmlowp's double rounding (measured: single rounding differs by one on
about one output in a hundred), offset by the output zero point and clamped to int8; the operator
has no fused activation.

A constant operand (typically the rhs, a Dense over the last axis of a 3-D input) is stored with
its zero point subtracted, row by row along the sum (a constant rhs transposed to [n][k]), and
the other operand's zero point is folded into one int32 constant per output row or column:
sum (x - zx)(c - zc) = sum x (c - zc) - zx sum (c - zc). With two activations the kernel
subtracts both zero points per term, as the reference does. `check` refuses a layer whose sums
could leave int32 (more than 33025 terms at worst), so the order of the terms cannot matter.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, Tensor
from ..quant import quantize_multiplier
from ._conv_common import INT32_MAX
from ._elementwise import broadcast_loops, broadcast_shape, index_expr
from .base import ConstArray, Context, Kernel, Lowering, need_int8, per_tensor, register

MIN_RANK, MAX_RANK = 2, 5


def dims(lhs: Tensor, rhs: Tensor, opts: dict) -> tuple[int, int, int, int]:
    """(M, K of the lhs, K of the rhs, N) after the adjoint options."""
    adj_x, adj_y = bool(opts.get("adj_x", False)), bool(opts.get("adj_y", False))
    m, k_l = (lhs.shape[-1], lhs.shape[-2]) if adj_x else (lhs.shape[-2], lhs.shape[-1])
    k_r, n = (rhs.shape[-1], rhs.shape[-2]) if adj_y else (rhs.shape[-2], rhs.shape[-1])
    return int(m), int(k_l), int(k_r), int(n)


def offset_range(t: Tensor) -> int:
    """The largest |q - zero_point| of an int8 tensor."""
    zp = int(t.quant.zp)
    return max(abs(-128 - zp), abs(127 - zp))


def _check_shapes(op: Op, lhs: Tensor, rhs: Tensor, out: Tensor) -> list[str]:
    d = op.describe()
    problems = [f"{d}: {what} '{t.name}' has rank {len(t.shape)}; ranks {MIN_RANK} to "
                f"{MAX_RANK} are supported"
                for t, what in ((lhs, "lhs"), (rhs, "rhs"))
                if not MIN_RANK <= len(t.shape) <= MAX_RANK]
    if problems:
        return problems
    m, k_l, k_r, n = dims(lhs, rhs, op.options)
    if k_l != k_r:
        problems.append(f"{d}: lhs sums over {k_l} values, rhs over {k_r}")
    batch = broadcast_shape([lhs.shape[:-2], rhs.shape[:-2]])
    if batch is None:
        problems.append(f"{d}: batch dimensions {list(lhs.shape[:-2])} and "
                        f"{list(rhs.shape[:-2])} do not broadcast")
    elif tuple(out.shape) != tuple(batch) + (m, n):
        problems.append(f"{d}: output shape {list(out.shape)} != {list(batch) + [m, n]} "
                        "computed from the operands")
    return problems


def _folded(op: Op, g: Graph):
    """For a constant operand: (which side, its values less its zero point as [batch][rows][K],
    the folded int32 terms [batch][rows]); None with two activations."""
    lhs, rhs = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
    m, k, _, n = dims(lhs, rhs, op.options)
    if rhs.is_const:
        c, side, other = rhs, "rhs", lhs
        rows = c.data.astype(np.int64).reshape(-1, *c.shape[-2:]) - int(c.quant.zp)
        rows = rows if op.options.get("adj_y", False) else np.swapaxes(rows, -1, -2)  # [n][k]
    elif lhs.is_const:
        c, side, other = lhs, "lhs", rhs
        rows = c.data.astype(np.int64).reshape(-1, *c.shape[-2:]) - int(c.quant.zp)
        rows = np.swapaxes(rows, -1, -2) if op.options.get("adj_x", False) else rows  # [m][k]
    else:
        return None
    return side, rows, -int(other.quant.zp) * rows.sum(axis=-1)


def accumulator_bound(op: Op, g: Graph) -> int:
    """The largest magnitude of any partial sum of the kernel (the reference's terms, or the
    folded constant plus terms)."""
    lhs, rhs = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
    _, k, _, _ = dims(lhs, rhs, op.options)
    terms = k * offset_range(lhs) * offset_range(rhs)
    folded = _folded(op, g)
    if folded is None:
        return terms
    _, rows, bias = folded
    return max(terms, int(np.abs(bias).max(initial=0)) + k * 128 * int(np.abs(rows).max(initial=0)))


@register
class BatchMatMul(Lowering):
    kind = "BATCH_MATMUL"

    def check(self, op: Op, g: Graph) -> list[str]:
        d = op.describe()
        if len(op.inputs) != 2 or not all(op.inputs) or len(op.outputs) != 1:
            return [f"{d}: expected two inputs and one output"]
        names = [op.inputs[0], op.inputs[1], op.outputs[0]]
        problems = need_int8(op, g, names)
        if problems:
            return problems
        lhs, rhs, out = (g.tensors[n] for n in names)
        for t in (lhs, rhs, out):
            problems += per_tensor(op, t)
        if lhs.is_const and rhs.is_const:
            problems.append(f"{d}: both operands are constant; fold the product before "
                            "converting")
        problems += _check_shapes(op, lhs, rhs, out)
        if problems:
            return problems
        bound = accumulator_bound(op, g)
        if bound > INT32_MAX:
            problems.append(f"{d}: a sum can reach {bound}, beyond int32 (the products sum "
                            f"over {dims(lhs, rhs, op.options)[1]} values)")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        lhs, rhs, out = (g.tensors[n] for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
        m, k, _, n = dims(lhs, rhs, op.options)
        batch = out.shape[:-2]
        loops = broadcast_loops(batch, [lhs.shape[:-2], rhs.shape[:-2]])
        mult, shift = quantize_multiplier(float(lhs.quant.s) * float(rhs.quant.s)
                                          / float(out.quant.s))
        adj_x, adj_y = bool(op.options.get("adj_x", False)), bool(op.options.get("adj_y", False))
        # Where the template reads each operand: element (m, k) of the lhs at m * row + k * step
        # of its matrix, (k, n) of the rhs at n * row + k * step.
        a = dict(arg="", const="", ctype="int8_t", row=1 if adj_x else k, step=m if adj_x else 1,
                 offset=-int(lhs.quant.zp), size=m * k, idx=index_expr(loops, 0))
        b = dict(arg="", const="", ctype="int8_t", row=k if adj_y else 1, step=1 if adj_y else n,
                 offset=-int(rhs.quant.zp), size=k * n, idx=index_expr(loops, 1))
        consts, bias = [], None
        folded = _folded(op, g)
        if folded is not None:
            side, rows, sums = folded
            ctype = "int16_t" if np.abs(rows).max(initial=0) > 127 else "int8_t"
            what = "column" if side == "rhs" else "row"
            consts = [ConstArray("operand", ctype, rows.astype(np.dtype(ctype[:-2])),
                                 f"[{rows.shape[0]}][{rows.shape[1]}][{k}] constant {side} less "
                                 f"its zero point, one row per output {what}"),
                      ConstArray("bias", "int32_t", sums.astype(np.int32),
                                 f"[{rows.shape[0]}][{rows.shape[1]}] the other operand's offset "
                                 f"times each row's sum")]
            (a if side == "lhs" else b).update(const="operand", ctype=ctype, row=k, step=1)
            a["offset"] = b["offset"] = 0  # (folded into the bias)
            bias = dict(side=side, rows=rows.shape[1], idx=(a if side == "lhs" else b)["idx"])
        act = []
        for name, src in ((op.inputs[0], a), (op.inputs[1], b)):
            if not src["const"]:
                src["arg"] = f"in{len(act)}"
                act.append(name)
        return Kernel(
            template="kernels/batch_matmul_s8.c.j2",
            params=dict(loops=loops, out_idx=index_expr(loops, None), m=m, k=k, n=n, a=a, b=b,
                        bias=bias, mult=mult, shift=shift, out_zp=int(out.quant.zp),
                        lo=-128, hi=127, per_channel=False, batch=list(batch)),
            consts=consts,
            act_inputs=act,
            act_outputs=[op.outputs[0]],
            macs=int(np.prod(batch, dtype=np.int64)) * m * n * k,
        )
