"""The search space of `fit`: per-layer sparsity and shared-weight bits, distillation, the pruning
fine-tuning's learning rate (a multiple of the plan's), and the weight formats' goal (`compile
--weights auto --optimize balanced|size`: the fastest formats within 10% of the model's fewest
bytes, or the fewest bytes; on a flash budget the fewer bytes a format takes, the more weights a candidate
keeps, at the latency the front shows).

Per-layer sparsity ranges come from a sensitivity analysis of the baseline (every layer pruned
alone at increasing sparsity, no fine-tuning; Deep Compression section 3): a layer is pruned at
least as far as costs (almost) nothing, and at most as far as it still works untuned. Small
layers (under ``SMALL_LAYER`` of all kernel weights) keep 8-bit shared weights and their sampled
sparsity (the flash budget scales the others): they cost few bytes, and a search dimension spent
on their bits is one taken from the layers that count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from tinycompress.compress.prune import _sparsity_at
from tinycompress.errors import UserError

SMALL_LAYER = 0.02
FREE_DROP = 0.005      # sparsity that costs at most this (untuned) is the range's low end
WORKING_DROP = 0.25    # sparsity that costs at most this (untuned) is its high end
MAX_SPARSITY = 0.98
DENSE_BITS = (2, 6)
CONV_BITS = (4, 8)
DISTILL = (0.0, 0.5, 0.9)
# The pruning fine-tuning's learning rate, a multiple of TrainPlan.prune_lr: the better one depends
# on the model (benchmarks/fit_finetune.py, README: 2x helped a distilled LeNet-300-100 candidate
# and hurt an undistilled LeNet-5 one), so the study learns it.
LR_SCALE = (1.0, 2.0)
OPTIMIZE = ("balanced", "size")   # --optimize of the candidate's compile --weights auto


@dataclass(frozen=True)
class LayerRange:
    name: str
    kind: str            # "conv" or "dense"
    weights: int
    sparsity: tuple[float, float]
    bits: tuple[int, int] | None   # None: fixed at 8


@dataclass(frozen=True)
class Candidate:
    """One setting to try: what `compress` gets, per layer."""

    sparsity: Mapping[str, float] = field(default_factory=dict)
    bits: Mapping[str, int] = field(default_factory=dict)
    distill: float = 0.0
    optimize: str = "balanced"
    lr_scale: float = 1.0      # the pruning fine-tuning's learning rate: this times the plan's

    def to_dict(self) -> dict:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping) -> Candidate:
        """The candidate a trial stored (a study made before the goal or the learning rate was
        searched: balanced, the plan's rate)."""
        return cls(d["sparsity"], d["bits"], d["distill"], d.get("optimize", "balanced"),
                   float(d.get("lr_scale", 1.0)))


def layer_ranges(curves: Mapping[str, list], sizes: Mapping[str, int],
                 kinds: Mapping[str, str]) -> list[LayerRange]:
    """Search ranges from sensitivity curves (layer -> [(sparsity, accuracy drop)])."""
    total = sum(sizes.values())
    if not total:
        raise UserError("the model has no compressible kernel weights (Dense, Conv2D, DepthwiseConv2D)")
    out = []
    for name, curve in curves.items():
        lo = min(0.9, _sparsity_at(curve, FREE_DROP))
        hi = min(MAX_SPARSITY, max(lo + 0.05, _sparsity_at(curve, WORKING_DROP)))
        small = sizes[name] < SMALL_LAYER * total
        bits = None if small else (CONV_BITS if kinds[name] == "conv" else DENSE_BITS)
        out.append(LayerRange(name, kinds[name], int(sizes[name]), (round(lo, 3), round(hi, 3)), bits))
    return out


def small_layers(ranges: list[LayerRange]) -> frozenset[str]:
    """Layers under SMALL_LAYER of all kernel weights: their bytes barely move the flash."""
    total = sum(r.weights for r in ranges)
    return frozenset(r.name for r in ranges if r.weights < SMALL_LAYER * total)


def suggest(trial, ranges: list[LayerRange]) -> Candidate:
    """A candidate from an optuna trial (or a FixedTrial of stored params: the same candidate)."""
    sparsity, bits = {}, {}
    for r in ranges:
        sparsity[r.name] = trial.suggest_float(f"sparsity.{r.name}", *r.sparsity)
        bits[r.name] = 8 if r.bits is None else trial.suggest_int(f"bits.{r.name}", *r.bits)
    distill = trial.suggest_categorical("distill", DISTILL)
    optimize = trial.suggest_categorical("optimize", OPTIMIZE)
    lr_scale = trial.suggest_categorical("lr_scale", LR_SCALE)
    return Candidate(sparsity, bits, float(distill), optimize, float(lr_scale))


def centre(ranges: list[LayerRange], distill: float = 0.0) -> dict:
    """The params (as :func:`suggest` names them) of the middle of the space, distilled by
    `distill`, the formats that take the fewest bytes (the most weights within a flash budget),
    fine-tuned at the plan's learning rate."""
    params = {}
    for r in ranges:
        params[f"sparsity.{r.name}"] = round((r.sparsity[0] + r.sparsity[1]) / 2, 3)
        if r.bits is not None:
            params[f"bits.{r.name}"] = (r.bits[0] + r.bits[1]) // 2
    params["distill"] = distill
    params["optimize"] = "size"
    params["lr_scale"] = LR_SCALE[0]
    return params


def first_trials(ranges: list[LayerRange]) -> list[dict]:
    """The study's first trials, so that its first fine-tunings are spent on sensible points
    rather than random ones: the centre undistilled and distilled (whether distillation helps
    depends on the model: one candidate each, paired drops on 20,000 held-out and test images,
    LeNet-5 0.01 pp undistilled against 0.53 pp with distillation 0.9, LeNet-300-100 0.52 against
    0.32)."""
    return [centre(ranges, 0.0), centre(ranges, max(DISTILL))]


def ranges_to_json(ranges: list[LayerRange]) -> list[dict]:
    return [asdict(r) for r in ranges]


def ranges_from_json(items: list[dict]) -> list[LayerRange]:
    return [LayerRange(d["name"], d["kind"], int(d["weights"]), tuple(d["sparsity"]),
                       None if d["bits"] is None else tuple(d["bits"])) for d in items]
