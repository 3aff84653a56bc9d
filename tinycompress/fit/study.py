"""The optuna study behind `fit`: storage, sampler, pruner, the objective, and reading it back.

The study is the only shared state: several processes (``--workers``, or `fit` started on other
machines with the same ``--storage`` and ``--study``) each run trials of it. What a process needs
to agree with the others (the search ranges from the sensitivity analysis, the baseline's
held-out accuracy, what the budgets are) is stored in the study's user attributes by the first
process and read by the rest. Each trial stores its figures and where its artifacts are.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from tinycompress.errors import UserError
from tinycompress.fit import budget, measure, space

PROBE_SLACK = 0.03   # a probe over budget by more than this is not fine-tuned
POLISH_SCALE = 2.0   # a polished candidate fine-tunes this many times longer
EXPANSION = 1.05     # fine-tuned / probed flash before a trial has measured it (the first
                     # trial's aim): the median of a LeNet-300-100 study's 18 (README, fit)


@dataclass(frozen=True)
class Setup:
    """What every process of one study works with."""

    base_path: Path
    board: str
    budgets: measure.Budgets
    plan: measure.TrainPlan
    workdir: Path
    ranges: list[space.LayerRange]
    baseline_accuracy: float
    baseline_correct: np.ndarray | None = None   # per held-out sample (the paired drop estimate)


def open_storage(spec: str | None):
    """None (in memory, this process only), 'journal:PATH' (a journal file; shared storage works), or a database URL."""
    import optuna

    if spec is None:
        return optuna.storages.InMemoryStorage()
    if spec.startswith("journal:"):
        path = Path(spec[len("journal:"):])
        if not path.name:
            raise UserError(f"--storage {spec}: give a file, e.g. journal:runs/fit.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        # The open(2)-based lock works on network file systems too.
        return optuna.storages.JournalStorage(JournalFileBackend(str(path), JournalFileOpenLock(str(path))))
    if "://" in spec:
        try:
            return optuna.storages.RDBStorage(spec)
        except Exception as e:  # sqlalchemy/driver errors: bad URL, missing driver, no server
            raise UserError(f"--storage {spec}: cannot open the database ({type(e).__name__}: "
                            f"{str(e).splitlines()[0]}); check the URL and its driver") from None
    raise UserError(f"--storage {spec!r} not understood: give journal:PATH or a database URL "
                    "such as sqlite:///fit.db or postgresql://host/db")


def create(storage, name: str, seed: int, worker: int):
    """The study, created or joined; each worker samples with its own seed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed * 1000 + worker, n_startup_trials=6, multivariate=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    return optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                               direction="minimize", load_if_exists=True)


def drop_bound(setup: Setup, correct: np.ndarray) -> tuple[float, float, float]:
    """(drop, margin, drop + margin) in pp of a candidate right on ``correct`` held-out samples:
    the margin is the budgets' ``accuracy_margin``, else one standard error of the paired drop."""
    acc = float(np.mean(correct))
    drop = 100.0 * (setup.baseline_accuracy - acc)
    margin = setup.budgets.accuracy_margin
    if margin is None:
        base = setup.baseline_correct
        margin = 0.0 if base is None or base.size != correct.size else measure.paired_drop(base, correct)[1]
    return drop, margin, drop + margin


def _record(trial, stage: str, fig: measure.Figures, correct: np.ndarray, setup: Setup, where: Path,
            seconds: float) -> float:
    acc = float(np.mean(correct))
    drop, margin, upper = drop_bound(setup, correct)
    excess = setup.budgets.excess(fig.flash_bytes, fig.ram_bytes, fig.latency_ms, upper)
    for key, value in (("stage", stage), ("figures", fig.to_dict()), ("accuracy", acc), ("drop_pp", drop),
                       ("drop_margin_pp", margin), ("drop_upper_pp", upper),
                       ("excess", excess), ("artifacts", str(where)), ("seconds", seconds)):
        trial.set_user_attr(key, value)
    for key, value in excess.items():  # the samplers' constraints: each budget's excess, <= 0 met
        trial.set_constraint(key, value)
    return drop


def _prober(setup: Setup, data: measure.Data, where: Path):
    """The exact probe: the candidate untrained, deployed into where/probeN."""
    import keras

    count = [0]

    def probe(cand: space.Candidate):
        d = where / f"probe{count[0]}"
        count[0] += 1
        model = measure.compressed(setup.base_path, cand, data, None)
        tflite, fig, manifest = measure.deploy(model, data, d, setup.board, cand.optimize)
        model.save(d / "model.keras")
        keras.backend.clear_session()
        return fig, (tflite, manifest, d)

    return probe


def hopeless(epoch: int, drop: float, plan: measure.TrainPlan, budgets: measure.Budgets) -> bool:
    """May a fine-tuning be stopped after ``epoch`` (0-based, both stages) at held-out ``drop``
    (pp, Keras)? Not while its sparsity still rises (before the pruning ramp ends its accuracy
    says how far it has been pruned, not how well it will end), and not while it is within the
    accuracy budget (it may be the answer). Then the median pruner decides."""
    if epoch + 1 < math.ceil(measure.PRUNE_RAMP * plan.prune_epochs):
        return False
    return budgets.max_drop is None or drop > budgets.max_drop


def expansion(trials, optimize: str | None = None) -> float:
    """Median ratio of fine-tuned to probed flash over the study's measured trials of the same
    formats' goal (`optimize`; of all when none has it yet; EXPANSION before any): fine-tuned
    weights take a few percent more Huffman-coded bytes than the untrained probe's, which `size`
    picks, while `balanced` mostly picks fixed-width formats that fine-tuning barely moves
    (LeNet-5 fit8: size 1.041 and 1.046, balanced 1.003 and 1.007)."""
    def ratios(same: bool) -> list[float]:
        return [t.user_attrs["figures"]["flash_bytes"] / t.user_attrs["probe_flash"] for t in trials
                if t.user_attrs.get("stage") == "full" and t.user_attrs.get("probe_flash")
                and (not same or t.params.get("optimize", "balanced") == optimize)]

    r = (optimize is not None and ratios(True)) or ratios(False)
    return max(1.0, float(sorted(r)[len(r) // 2])) if r else EXPANSION


def run_candidate(trial, setup: Setup, data: measure.Data, log: Callable[[str], None] | None = None,
                  fixed: space.Candidate | None = None) -> float:
    """The objective: scale the candidate to the flash budget with probes (when there are size or
    latency budgets); fine-tune, deploy and measure it when the probe fits them. ``fixed``:
    rebuild this candidate (no probes, no scaling).

    Returns the accuracy drop (percentage points) of the INT8 model on the held-out split."""
    import keras
    import optuna

    t0 = time.perf_counter()
    where = setup.workdir / f"trial_{trial.number:04d}"
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    polish = trial.user_attrs.get("polish_of")
    if polish is not None:  # a promising candidate fine-tuned again, longer (polish())
        fixed = space.Candidate.from_dict(trial.user_attrs["candidate"])
        space.suggest(trial, setup.ranges)  # the enqueued params: the study sees the same point
    plan = setup.plan if polish is None else replace(
        setup.plan, prune_epochs=setup.plan.prune_epochs * POLISH_SCALE,
        cluster_epochs=setup.plan.cluster_epochs * POLISH_SCALE)
    cand = fixed if fixed is not None else space.suggest(trial, setup.ranges)
    b = setup.budgets
    if fixed is None and (b.max_flash, b.max_ram, b.max_latency_ms) != (None, None, None):
        expand = expansion(trial.study.get_trials(deepcopy=False), cand.optimize)
        cand, fig, (tflite, manifest, pdir) = budget.to_flash_budget(
            cand, _prober(setup, data, where), b.max_flash, expand, log, space.small_layers(setup.ranges))
        trial.set_user_attr("probe_flash", fig.flash_bytes)
        over = b.excess(fig.flash_bytes * expand, fig.ram_bytes, fig.latency_ms, None)
        if any(v > PROBE_SLACK for v in over.values()):
            trial.set_user_attr("candidate", cand.to_dict())
            correct = measure.int8_correct(tflite, manifest, data.x_val, data.y_val)
            return _record(trial, "probe", fig, correct, setup, pdir, time.perf_counter() - t0)
    trial.set_user_attr("candidate", cand.to_dict())
    trial.set_user_attr("plan", asdict(plan))   # what a rebuild on another machine fine-tunes with

    def on_epoch(epoch: int, acc: float):
        if polish is not None:
            return  # a longer schedule: its epochs are not comparable with the others'
        drop = 100.0 * (setup.baseline_accuracy - acc)
        trial.report(drop, epoch)
        if log is not None:
            log(f"trial {trial.number}: epoch {epoch + 1}, held-out accuracy {acc:.2%} (Keras)")
        if hopeless(epoch, drop, plan, b) and trial.should_prune():
            trial.set_user_attr("stage", "pruned")
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            raise optuna.TrialPruned(f"held-out accuracy {acc:.2%} after epoch {epoch + 1}")

    model = measure.compressed(setup.base_path, cand, data, plan, on_epoch)
    tflite, fig, manifest = measure.deploy(model, data, where, setup.board, cand.optimize)
    model.save(where / "model.keras")
    correct = measure.int8_correct(tflite, manifest, data.x_val, data.y_val)
    keras.backend.clear_session()
    return _record(trial, "full", fig, correct, setup, where, time.perf_counter() - t0)


@dataclass
class TrialRecord:
    """One trial as the study holds it."""

    number: int
    state: str                  # COMPLETE, PRUNED, FAIL, RUNNING
    stage: str | None           # probe (over budget: not fine-tuned), full, pruned
    candidate: dict
    figures: dict | None
    accuracy: float | None      # INT8, held-out split
    drop_pp: float | None
    excess: dict = field(default_factory=dict)
    feasible: bool = False
    seconds: float | None = None
    worker: str | None = None
    artifacts: str | None = None
    params: dict = field(default_factory=dict)
    polish_of: int | None = None   # the trial whose candidate this one fine-tuned longer
    drop_upper_pp: float | None = None   # drop + margin: what the accuracy budget is checked on
    plan: dict | None = None             # the TrainPlan it was fine-tuned with (a polish: longer)

    @property
    def upper(self) -> float:
        return self.drop_pp if self.drop_upper_pp is None else self.drop_upper_pp

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def records(trials) -> list[TrialRecord]:
    """Records of optuna FrozenTrials (study.get_trials())."""
    out = []
    for t in trials:
        a = t.user_attrs
        excess = a.get("excess", {})
        complete = t.state.name == "COMPLETE"
        out.append(TrialRecord(
            number=t.number, state=t.state.name, stage=a.get("stage"), candidate=a.get("candidate", {}),
            figures=a.get("figures"), accuracy=a.get("accuracy"), drop_pp=a.get("drop_pp"), excess=excess,
            feasible=complete and a.get("stage") == "full" and all(v <= 0 for v in excess.values()),
            seconds=a.get("seconds"), worker=a.get("worker"), artifacts=a.get("artifacts"),
            params=dict(t.params), polish_of=a.get("polish_of"), drop_upper_pp=a.get("drop_upper_pp"),
            plan=a.get("plan")))
    return out


def best(recs: list[TrialRecord]) -> tuple[TrialRecord | None, bool]:
    """The feasible trial with the least drop upper bound (drop + margin; then the least flash),
    or, when none is feasible, the closest one: the least total excess over the budgets.
    (record, feasible)."""
    ok = [r for r in recs if r.feasible]
    if ok:
        return min(ok, key=lambda r: (r.upper, r.figures["flash_bytes"], r.number)), True
    measured = [r for r in recs if r.state == "COMPLETE" and r.figures is not None]
    if not measured:
        return None, False
    return min(measured, key=lambda r: (sum(max(0.0, v) for v in r.excess.values()),
                                        r.stage != "full", r.number)), False


def pareto_front(recs: list[TrialRecord]) -> list[TrialRecord]:
    """Fine-tuned, measured trials that no other beats on accuracy drop, flash and latency at once."""
    inf = float("inf")
    pts = [(r, (r.drop_pp, r.figures["flash_bytes"],
                inf if r.figures["latency_ms"] is None else r.figures["latency_ms"]))
           for r in recs if r.state == "COMPLETE" and r.stage == "full"]

    def dominated(p, q):
        return all(b <= a for a, b in zip(p, q)) and any(b < a for a, b in zip(p, q))

    front = [r for r, p in pts if not any(dominated(p, q) for _, q in pts)]
    return sorted(front, key=lambda r: (r.figures["flash_bytes"], r.number))


def polish(study, objective, count: int, log=None) -> None:
    """Fine-tune the ``count`` most promising candidates again, POLISH_SCALE times longer: the
    fine-tuned trials that meet the size and latency budgets, least drop upper bound first, each at most once
    (over all processes). They are enqueued as trials of the study, so the best is still read
    from the study."""
    trials = study.get_trials(deepcopy=False)
    done = {t.user_attrs.get("polish_of") for t in trials}
    size_ok = [t for t in trials if t.state.name == "COMPLETE" and t.user_attrs.get("stage") == "full"
               and t.user_attrs.get("polish_of") is None and t.number not in done
               and all(v <= 0 for k, v in t.user_attrs["excess"].items() if k != "accuracy")]
    for t in sorted(size_ok, key=lambda t: t.user_attrs.get("drop_upper_pp", t.user_attrs["drop_pp"]))[:count]:
        if log is not None:
            log(f"polishing trial {t.number} (held-out drop {t.user_attrs['drop_pp']:+.2f} pp): "
                f"fine-tuning {POLISH_SCALE:g}x longer")
        study.enqueue_trial(t.params, user_attrs={"polish_of": t.number, "candidate": t.user_attrs["candidate"]},
                            skip_if_exists=False)
        study.optimize(objective, n_trials=1, catch=(UserError,), gc_after_trial=True)
