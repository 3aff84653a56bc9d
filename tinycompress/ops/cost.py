"""One cost model of a lowered layer: the bytes it places in flash and the instructions it runs.

Bytes are not estimated: they are the `ConstArray`s of the `Kernel` the layer's variant builds
(every array the emitter writes: weights in their format, codebooks, streams, biases,
requantisation constants), so `--weights auto`, `tinycompress compress`'s report and the
`estimate` API (tinycompress/cost.py) all count what `compile` places.

Instructions are a linear model per kernel and core family, fitted to QEMU instruction counts
(`python benchmarks/cost_fit.py` re-measures them and prints this table):

    instructions = fixed + per_mac * macs + per_stored * stored + per_output * outputs
                   + per_input * inputs + per_border * border

over the counts a variant's `cost` callable (ops/base.py `Variant.cost`) derives from the layer
and its built kernel (`Work`): `macs` the multiply-adds the kernel executes (a sparse layer's
nonzeros, a gathering convolution's listed taps), `stored` the stored weight entries it decodes,
`outputs` the output elements it requantises, `inputs` the input values it gathers or widens per
output position (the DSP and Helium convolutions' im2col), `border` the multiply-adds at a
portable convolution's border positions (each tap checked against the input's edges; `macs`
then counts the interior's). A kernel is keyed by
(operator, key, family): the key is the variant's name for dense kernels and
"packed-<format>" for compressed ones the portable packed kernels run (format: lut, sparse,
huffman, int4), the variant's name for the others (csr, mve_csr, hcsr, dsp_s4, dsp_w8, dsp_w16); the family is the most
specific of the core's kernel families (mve, dsp) or "portable". A new weight format or kernel is
one `COEFFS` entry per operator and family; a key without one has no estimate (None), and
`choose` then ranks the layer by bytes alone.

`choose_model` is `--weights auto`'s rule over a model's layers, by `--optimize`:
  size      per layer the fewest bytes (ties: the fewest instructions);
  speed     per layer the fewest instructions (ties: the fewest bytes);
  balanced  (default) the fewest instructions of the whole model among the choices whose bytes
            are within BALANCED_SLACK (10%) of the fewest the model can take: a layer may take
            more than a tenth over its own fewest where another takes less (a multiple-choice
            knapsack, solved over each layer's Pareto front of bytes and instructions).
`choose` is the same rule for one layer alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPTIMIZE = ("balanced", "size", "speed")
BALANCED_SLACK = 0.10
FEATURES = ("fixed", "macs", "stored", "outputs", "inputs", "border")


@dataclass(frozen=True)
class Work:
    """What a kernel does per inference, in the units of the model's terms."""

    macs: int = 0
    stored: int = 0
    outputs: int = 0
    inputs: int = 0
    border: int = 0

    def vector(self) -> tuple[int, ...]:
        return (1, self.macs, self.stored, self.outputs, self.inputs, self.border)


# (operator, kernel key, family) -> coefficients of FEATURES, fitted by benchmarks/cost_fit.py
# from QEMU instruction counts (portable: mps2-an385 Cortex-M3, dsp: mps2-an386 Cortex-M4,
# mve: mps3-an547 Cortex-M55).
COEFFS: dict[tuple[str, str, str], tuple[float, ...]] = {
    ('CONV_2D', '1x1', 'portable'): (0.006796, 6.196, 0.0, 17.09, 0.0, 0.0),
    ('CONV_2D', 'dsp', 'dsp'): (0.0, 1.557, 0.0, 50.6, 0.1275, 0.0),
    ('CONV_2D', 'dsp_1x1', 'dsp'): (0.007429, 1.787, 0.0, 20.05, 0.0, 0.0),
    ('CONV_2D', 'dsp_s4', 'dsp'): (0.0, 1.337, 0.0, 29.18, 13.0, 0.0),
    ('CONV_2D', 'dsp_s4', 'mve'): (0.0, 1.132, 0.0, 31.77, 15.26, 0.0),
    ('CONV_2D', 'dsp_w16', 'dsp'): (0.0, 0.5179, 0.0, 11.92, 6.637, 0.0),
    ('CONV_2D', 'dsp_w8', 'dsp'): (0.0, 0.7786, 0.0, 14.41, 6.108, 0.0),
    ('CONV_2D', 'mve', 'mve'): (57.59, 0.1388, 0.0, 23.1, 1.347, 0.0),
    ('CONV_2D', 'mve_1x1', 'mve'): (0.005121, 0.1251, 0.0, 14.13, 0.0, 0.0),
    ('CONV_2D', 'packed-huffman', 'dsp'): (13720.0, 5.001, 0.0, 17.49, 0.0, 5.232),
    ('CONV_2D', 'packed-huffman', 'mve'): (12840.0, 4.276, 0.0, 20.54, 0.0, 4.973),
    ('CONV_2D', 'packed-huffman', 'portable'): (2808.0, 5.488, 0.0, 41.67, 0.0, 5.577),
    ('CONV_2D', 'packed-int4', 'portable'): (0.0, 2.758, 20.32, 64.16, 0.0, 8.19),
    ('CONV_2D', 'packed-lut', 'dsp'): (17810.0, 2.45, 21.37, 20.84, 0.0, 5.315),
    ('CONV_2D', 'packed-lut', 'mve'): (16190.0, 1.998, 22.55, 24.02, 0.0, 4.789),
    ('CONV_2D', 'packed-lut', 'portable'): (4411.0, 3.801, 9.921, 42.45, 0.0, 5.645),
    ('CONV_2D', 'packed-sparse', 'dsp'): (14290.0, 4.734, 0.0, 18.27, 0.0, 5.096),
    ('CONV_2D', 'packed-sparse', 'mve'): (11700.0, 4.163, 0.0, 20.58, 0.0, 4.812),
    ('CONV_2D', 'packed-sparse', 'portable'): (6120.0, 5.193, 0.0, 35.63, 0.0, 5.532),
    ('CONV_2D', 'portable', 'portable'): (0.0, 3.748, 0.0, 97.79, 0.0, 5.28),
    ('DEPTHWISE_CONV_2D', 'dsp', 'dsp'): (0.0, 5.142, 0.0, 24.63, 0.0, 0.0),
    ('DEPTHWISE_CONV_2D', 'dsp_w16', 'dsp'): (0.0, 1.873, 0.0, 13.23, 0.0, 0.0),
    ('DEPTHWISE_CONV_2D', 'dsp_w8', 'dsp'): (0.0, 2.248, 0.0, 14.38, 0.0, 0.0),
    ('DEPTHWISE_CONV_2D', 'mve', 'mve'): (0.0, 3.237, 0.0, 0.0, 0.0, 0.0),
    ('DEPTHWISE_CONV_2D', 'packed-huffman', 'dsp'): (4411.0, 0.0, 0.0, 57.93, 0.0, 10.12),
    ('DEPTHWISE_CONV_2D', 'packed-huffman', 'mve'): (0.0, 0.0, 0.0, 66.1, 0.0, 9.932),
    ('DEPTHWISE_CONV_2D', 'packed-huffman', 'portable'): (3063.0, 0.0, 0.0, 75.93, 0.0, 10.53),
    ('DEPTHWISE_CONV_2D', 'packed-int4', 'dsp'): (0.0, 1.811, 0.0, 42.06, 0.0, 13.01),
    ('DEPTHWISE_CONV_2D', 'packed-int4', 'mve'): (0.0, 0.2504, 16.89, 58.83, 0.0, 9.744),
    ('DEPTHWISE_CONV_2D', 'packed-int4', 'portable'): (0.0, 1.629, 26.55, 58.93, 0.0, 12.29),
    ('DEPTHWISE_CONV_2D', 'packed-lut', 'dsp'): (0.0, 0.0, 0.0, 57.3, 0.0, 11.02),
    ('DEPTHWISE_CONV_2D', 'packed-lut', 'mve'): (0.0, 0.0, 0.0, 62.5, 0.0, 10.13),
    ('DEPTHWISE_CONV_2D', 'packed-lut', 'portable'): (671.9, 0.0, 7.865, 73.31, 0.0, 11.17),
    ('DEPTHWISE_CONV_2D', 'packed-sparse', 'dsp'): (813.2, 0.0, 0.0, 59.85, 0.0, 9.952),
    ('DEPTHWISE_CONV_2D', 'packed-sparse', 'mve'): (0.0, 0.0, 0.0, 64.1, 0.0, 9.727),
    ('DEPTHWISE_CONV_2D', 'packed-sparse', 'portable'): (1386.0, 0.0, 0.0, 75.89, 0.0, 10.52),
    ('DEPTHWISE_CONV_2D', 'portable', 'portable'): (0.0, 0.2813, 0.0, 122.8, 0.0, 10.45),
    ('FULLY_CONNECTED', 'csr', 'dsp'): (0.0, 3.662, 0.0, 84.53, 0.0, 0.0),
    ('FULLY_CONNECTED', 'csr', 'portable'): (0.0, 3.692, 0.0, 80.11, 0.0, 0.0),
    ('FULLY_CONNECTED', 'dsp', 'dsp'): (0.0, 1.5, 0.0, 22.37, 1.755, 0.0),
    ('FULLY_CONNECTED', 'dsp_s4', 'dsp'): (9.143, 1.892, 0.0, 27.37, 2.792, 0.0),
    ('FULLY_CONNECTED', 'dsp_s4', 'mve'): (18.51, 1.83, 0.0, 30.28, 3.144, 0.0),
    ('FULLY_CONNECTED', 'dsp_w16', 'dsp'): (2.938, 0.8751, 0.0, 9.383, 1.76, 0.0),
    ('FULLY_CONNECTED', 'dsp_w8', 'dsp'): (4.91, 1.001, 0.0, 10.77, 2.251, 0.0),
    ('FULLY_CONNECTED', 'hcsr', 'dsp'): (49.58, 1.28, 11.78, 47.94, 0.0, 0.0),
    ('FULLY_CONNECTED', 'hcsr', 'mve'): (0.0, 0.9891, 12.22, 26.92, 0.0, 0.0),
    ('FULLY_CONNECTED', 'hcsr', 'portable'): (61.66, 1.032, 15.73, 15.62, 0.0, 0.0),
    ('FULLY_CONNECTED', 'mve', 'mve'): (37.22, 0.2217, 0.0, 17.36, 0.0, 0.0),
    ('FULLY_CONNECTED', 'mve_csr', 'mve'): (17.27, 0.0, 4.963, 14.19, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-huffman', 'dsp'): (0.0, 0.0, 41.11, 0.0, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-huffman', 'mve'): (0.0, 0.0, 32.65, 339.2, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-huffman', 'portable'): (0.0, 0.0, 41.39, 0.0, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-int4', 'portable'): (2.56, 5.021, 0.0, 21.36, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-lut', 'dsp'): (3050.0, 6.372, 0.0, 0.0, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-lut', 'mve'): (1993.0, 6.078, 0.0, 0.0, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-lut', 'portable'): (2434.0, 6.203, 0.0, 0.0, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-sparse', 'dsp'): (0.0, 0.0, 26.28, 51.33, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-sparse', 'mve'): (0.0, 0.0, 27.91, 0.0, 0.0, 0.0),
    ('FULLY_CONNECTED', 'packed-sparse', 'portable'): (0.0, 0.0, 28.15, 0.0, 0.0, 0.0),
    ('FULLY_CONNECTED', 'portable', 'portable'): (23.78, 5.0, 0.0, 16.82, 0.0, 0.0),
}


def family(families: tuple[str, ...]) -> str:
    """The family a core's kernels are costed as: its most specific one, or portable."""
    return families[0] if families else "portable"


def cost_key(variant: str, weight_format: str) -> str:
    """A kernel's key in COEFFS: packed-<format family> for compressed weights, else the
    variant's name."""
    if variant == "packed":
        return "packed-" + weight_format.split("+")[0]
    return variant


def instructions(op_kind: str, key: str, families: tuple[str, ...], work: Work) -> int | None:
    """The model's instructions for `work` on a kernel, or None when it has no coefficients."""
    c = COEFFS.get((op_kind, key, family(families)))
    if c is None:
        return None
    return max(0, round(sum(a * b for a, b in zip(c, work.vector()))))


@dataclass
class Candidate:
    """One way to store and run a layer: what `choose` ranks."""

    weight_format: str  # the label (dense, lut, sparse+lut, ...)
    bytes: int
    instructions: int | None
    item: Any = None  # what the caller picks (e.g. the Kernel)


def choose(cands: list[Candidate], optimize: str = "balanced") -> Candidate:
    """The candidate `--optimize` picks (module docstring). Unknown instructions rank last."""
    if optimize not in OPTIMIZE:
        raise ValueError(f"optimize '{optimize}' is unknown; known: {', '.join(OPTIMIZE)}")
    inf = float("inf")

    def speed(c: Candidate):
        return (c.instructions if c.instructions is not None else inf, c.bytes)

    if optimize == "size":
        return min(cands, key=lambda c: (c.bytes, speed(c)[0]))
    if optimize == "speed":
        return min(cands, key=speed)
    return choose_model([cands], optimize)[0]


FRONT_CAP = 4096  # the most (bytes, instructions) points balanced keeps between layers


def choose_model(layers: list[list[Candidate]], optimize: str = "balanced") -> list[Candidate]:
    """One candidate a layer, by `optimize` (module docstring); unknown instructions rank after
    known ones (they count as one unknown each, compared before the instructions)."""
    if optimize != "balanced":
        return [choose(cands, optimize) for cands in layers]
    budget = (1 + BALANCED_SLACK) * sum(min(c.bytes for c in cands) for cands in layers)
    front: list[tuple[int, tuple[int, int], tuple[int, ...]]] = [(0, (0, 0), ())]
    for cands in layers:
        grown = [(b + c.bytes, (u + (c.instructions is None), i + (c.instructions or 0)),
                  picks + (k,))
                 for b, (u, i), picks in front for k, c in enumerate(cands)
                 if b + c.bytes <= budget]
        front = _pareto(grown)
    _, _, picks = min(front, key=lambda t: (t[1], t[0]))
    return [cands[k] for cands, k in zip(layers, picks)]


def _pareto(points: list) -> list:
    """The points no other beats on both bytes and cost (the fewest bytes first), thinned to
    FRONT_CAP evenly along the front (its ends kept)."""
    front, best = [], None
    for p in sorted(points, key=lambda t: (t[0], t[1], t[2])):
        if best is None or p[1] < best:
            front.append(p)
            best = p[1]
    if len(front) > FRONT_CAP:
        step = (len(front) - 1) / (FRONT_CAP - 1)
        front = [front[round(j * step)] for j in range(FRONT_CAP)]
    return front
