"""tinycompress fit: the search's parts on their own (no TensorFlow), bad inputs, an impossible
budget, and two worker processes sharing one journal-file study."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from tinycompress.cli import main
from tinycompress.errors import UserError
from tinycompress.fit import budget, measure, space, study as st
from tinycompress.fit.space import Candidate
from tinycompress.results import FitResult


# --- the parts, no TensorFlow -------------------------------------------------------------

def test_layer_ranges_from_sensitivity():
    curves = {"fc1": [(0.0, 0.0), (0.5, 0.0), (0.8, 0.004), (0.9, 0.05), (0.95, 0.3)],
              "fc2": [(0.0, 0.0), (0.5, 0.1), (0.8, 0.5), (0.9, 0.6), (0.95, 0.7)],
              "fc3": [(0.0, 0.0), (0.5, 0.0), (0.8, 0.0), (0.9, 0.0), (0.95, 0.0)]}
    sizes = {"fc1": 10000, "fc2": 1000, "fc3": 100}
    r = {x.name: x for x in space.layer_ranges(curves, sizes, {k: "dense" for k in sizes})}
    lo, hi = r["fc1"].sparsity
    assert 0.8 <= lo < 0.9 and 0.9 < hi < 0.95          # free up to ~0.8, working up to ~0.94
    assert r["fc2"].sparsity[0] < 0.5 and r["fc2"].sparsity[1] <= 0.8
    assert r["fc3"].bits is None and r["fc1"].bits == space.DENSE_BITS   # 100 of 11100 weights: fixed 8 bits
    assert space.ranges_from_json(space.ranges_to_json(list(r.values()))) == list(r.values())


def test_centre_is_a_point_of_the_space():
    import optuna

    ranges = [space.LayerRange("fc1", "dense", 1000, (0.5, 0.9), space.DENSE_BITS),
              space.LayerRange("c1", "conv", 100, (0.1, 0.4), None)]
    first = [space.suggest(optuna.trial.FixedTrial(p), ranges) for p in space.first_trials(ranges)]
    for cand in first:
        assert cand.sparsity == {"fc1": 0.7, "c1": 0.25} and cand.bits == {"fc1": 4, "c1": 8}
        assert cand.optimize == "size"                  # the most weights within a flash budget
    assert [c.distill for c in first] == [0.0, max(space.DISTILL)]   # with and without
    assert [c.lr_scale for c in first] == [1.0, 1.0]                 # at the plan's learning rate
    cand = first[1]
    old = {"sparsity": {"fc1": 0.7}, "bits": {"fc1": 4}, "distill": 0.0}   # a study made before
    assert Candidate.from_dict(old).optimize == "balanced" and Candidate.from_dict(old).lr_scale == 1.0
    assert Candidate.from_dict(cand.to_dict()) == cand


def test_the_candidates_learning_rate_scales_the_plans():
    import optuna

    ranges = [space.LayerRange("fc1", "dense", 1000, (0.5, 0.9), space.DENSE_BITS)]
    params = {**space.centre(ranges), "lr_scale": 2.0}
    cand = space.suggest(optuna.trial.FixedTrial(params), ranges)
    plan = measure.TrainPlan(prune_lr=3e-3, cluster_lr=1e-4)
    spec = measure._specs(cand, plan)
    assert cand.lr_scale == 2.0 and spec.prune.train.learning_rate == pytest.approx(6e-3)
    assert spec.cluster.train.learning_rate == pytest.approx(1e-4)     # weight sharing: the plan's own
    assert measure._specs(Candidate.from_dict({**cand.to_dict(), "lr_scale": 1.0}), plan
                          ).prune.train.learning_rate == pytest.approx(3e-3)


def test_the_cli_passes_its_learning_rate_and_defaults_to_the_plans(mlp, tmp_path, monkeypatch, capsys):
    import sys

    from tinycompress.errors import UserError

    fit_pkg = sys.modules["tinycompress.fit"]   # the package (tinycompress.fit is also the function)

    plans = []

    def fake_fit(*args, plan, **kwargs):
        plans.append(plan)
        raise UserError("stop here")

    monkeypatch.setattr(fit_pkg, "fit", fake_fit)
    for extra in ([], ["--learning-rate", "5e-3"]):
        assert main(_args(mlp, "--board", "nucleo-f446re", "-o", str(tmp_path / "o"), *extra)) == 2
    assert "stop here" in capsys.readouterr().err
    assert [p.prune_lr for p in plans] == [measure.TrainPlan().prune_lr, 5e-3]


def test_a_trial_is_not_stopped_during_the_ramp_or_within_budget():
    plan = measure.TrainPlan(prune_epochs=8)
    b = measure.Budgets(max_drop=0.5)
    ramp_end = int(measure.PRUNE_RAMP * 8)               # epoch index 3 ends the ramp (4 epochs)
    assert not st.hopeless(ramp_end - 2, 5.0, plan, b)   # still being pruned: too early to tell
    assert st.hopeless(ramp_end - 1, 5.0, plan, b)
    assert not st.hopeless(ramp_end + 3, 0.4, plan, b)   # within the budget: may be the answer
    assert st.hopeless(ramp_end + 3, 0.4, plan, measure.Budgets())   # no accuracy budget


def _fig(flash, weights):
    return measure.Figures(flash, 500, None, None, weights, "qemu")


def test_flash_budget_scaling_converges_on_a_nonlinear_probe():
    calls = []

    def probe(c):  # bytes per kept weight grow as the gaps between them do (relative indexing)
        kept = sum((1 - s) * n for s, n in zip(c.sparsity.values(), (20000, 2000)))
        w = int(kept * (1.0 + 0.15 * np.log1p(22000 / max(kept, 1))))
        calls.append(w)
        return _fig(3000 + w, w), c

    cand = Candidate({"a": 0.5, "b": 0.2}, {"a": 4, "b": 4})
    got, fig, payload = budget.to_flash_budget(cand, probe, 8000)
    assert payload is got and fig.flash_bytes <= 8000
    assert fig.flash_bytes >= (budget.TARGET - budget.TOLERANCE) * 8000
    assert 1 < len(calls) <= budget.PROBES
    # the layers keep their proportions: one factor for all
    ka, kb = 1 - got.sparsity["a"], 1 - got.sparsity["b"]
    assert ka / kb == pytest.approx(0.5 / 0.8, rel=1e-6)


def test_flash_budget_scaling_brackets_an_overshoot():
    """The probes of a LeNet-300-100 trial (fit5, trial 14: factor 0.212 -> 41,228 B, 0.079 ->
    21,844 B, 0.123 -> 29,608 B, over the 29,538 B the study's expansion allowed): the last
    overshoot is answered by a probe between the two closest, not by the 21,844 B one."""
    pts = [(0.0, 3000.0), (0.079, 21844.0), (0.123, 29608.0), (0.212, 41228.0), (1.0, 100000.0)]

    def probe(c):
        flash = int(np.interp((1 - c.sparsity["a"]) / 0.64, *zip(*pts)))
        return _fig(flash, flash - 3000), c

    got, fig, _ = budget.to_flash_budget(Candidate({"a": 0.36}, {"a": 5}), probe, 30720, 1.04)
    top = 30720 / 1.04
    assert (budget.TARGET - budget.TOLERANCE) * top <= fig.flash_bytes <= top


def test_expansion_is_the_median_measured_or_the_prior():
    from types import SimpleNamespace

    def t(flash, probe, stage="full", optimize="size"):
        return SimpleNamespace(user_attrs={"stage": stage, "figures": {"flash_bytes": flash}, "probe_flash": probe},
                               params={"optimize": optimize})

    assert st.expansion([]) == st.EXPANSION > 1          # the first trial aims under the budget too
    assert st.expansion([t(103, 100), t(110, 100), t(101, 100), t(500, 100, "probe")]) == pytest.approx(1.03)
    assert st.expansion([t(95, 100)]) == 1.0              # never aims over the budget
    # per formats' goal: Huffman (size) grows when fine-tuned, fixed-width formats (balanced) do not
    mixed = [t(105, 100), t(104, 100), t(101, 100, optimize="balanced"), t(100, 100, optimize="balanced")]
    assert st.expansion(mixed, "size") == pytest.approx(1.05)
    assert st.expansion(mixed, "balanced") == pytest.approx(1.01)
    assert st.expansion(mixed[:2], "balanced") == pytest.approx(1.05)  # none of its own yet: all


def test_small_layers_keep_their_sparsity_when_scaled():
    ranges = [space.LayerRange("big", "dense", 9900, (0.5, 0.9), space.DENSE_BITS),
              space.LayerRange("out", "dense", 100, (0.1, 0.9), None)]
    keep = space.small_layers(ranges)
    assert keep == {"out"}
    got = budget.scaled(Candidate({"big": 0.5, "out": 0.3}, {"big": 4, "out": 8}), 0.2, keep)
    assert got.sparsity == {"big": pytest.approx(0.9), "out": 0.3}


def test_flash_budget_out_of_reach_returns_the_smallest():
    got, fig, _ = budget.to_flash_budget(Candidate({"a": 0.5}, {"a": 4}),
                                         lambda c: (_fig(5000 + int(100 * (1 - c.sparsity["a"])), 50), c), 1000)
    assert fig.flash_bytes > 1000 and got.sparsity["a"] == budget.MAX_SPARSITY


def test_budget_excess():
    b = measure.Budgets(max_flash=1000, max_latency_ms=2.0, max_drop=0.5)
    e = b.excess(1100, 10**6, None, 0.25)
    assert e == {"flash": pytest.approx(0.1), "latency": 1.0, "accuracy": pytest.approx(-0.0025)}
    with pytest.raises(UserError, match="max-flash"):
        measure.Budgets(max_flash=0)


def test_paired_drop_counts_only_disagreements():
    rng = np.random.default_rng(1)
    base = rng.random(5000) < 0.9
    cand = base.copy()
    flip = rng.choice(5000, 200, replace=False)          # 200 disagreements
    cand[flip] = ~cand[flip]
    drop, se = measure.paired_drop(base, cand)
    d = base.astype(float) - cand
    assert drop == pytest.approx(100 * (base.mean() - cand.mean()))
    assert se == pytest.approx(100 * np.sqrt(np.var(d, ddof=1) / 5000))
    unpaired = 100 * np.sqrt(2 * 0.9 * 0.1 / 5000)
    assert 0.5 < se / (100 * np.sqrt(200 / 5000 / 5000)) < 1.01 and se < 0.7 * unpaired
    assert measure.paired_drop(base, base) == (0.0, 0.0)  # no disagreement: no doubt
    with pytest.raises(ValueError):
        measure.paired_drop(base, cand[:10])


def _setup(margin, base):
    b = measure.Budgets(max_flash=1000, max_drop=0.5, accuracy_margin=margin)
    return st.Setup(Path("m.keras"), "b", b, measure.TrainPlan(), Path("."), [], float(base.mean()), base)


def test_drop_bound_uses_the_margin_option_or_one_standard_error():
    base = np.array([True] * 90 + [False] * 10)
    cand = base.copy()
    cand[:2] = False                                  # 2 of 100 lost: drop 2 pp
    drop, margin, upper = st.drop_bound(_setup(None, base), cand)
    assert drop == pytest.approx(2.0) and margin == pytest.approx(measure.paired_drop(base, cand)[1])
    assert margin > 1.0 and upper == pytest.approx(drop + margin)
    assert st.drop_bound(_setup(0.25, base), cand) == pytest.approx((2.0, 0.25, 2.25))
    with pytest.raises(UserError, match="accuracy-margin"):
        measure.Budgets(accuracy_margin=-1)


def test_best_prefers_the_smallest_drop_upper_bound():
    a, b = _rec(0, 0.1, 90, 1.0, True), _rec(1, 0.2, 95, 1.0, True)
    a.drop_upper_pp, b.drop_upper_pp = 0.45, 0.35      # 0's drop is noisier
    assert st.best([a, b])[0].number == 1


def _rec(n, drop, flash, lat, feasible, stage="full"):
    return st.TrialRecord(n, "COMPLETE", stage, {}, {"flash_bytes": flash, "latency_ms": lat, "ram_bytes": 1},
                          None, drop, {"flash": 0.0 if feasible else (flash - 100) / 100}, feasible)


def test_best_front_and_closest():
    recs = [_rec(0, 0.4, 90, 1.0, True), _rec(1, 0.2, 99, 2.0, True), _rec(2, 0.1, 150, 0.5, False),
            _rec(3, 0.5, 95, 3.0, True), _rec(4, 9.0, 120, None, False, "probe")]
    best, ok = st.best(recs)
    assert ok and best.number == 1
    assert [r.number for r in st.pareto_front(recs)] == [0, 1, 2]   # 3 is beaten by 0; 4 never tuned
    best, ok = st.best([recs[2], recs[4]])
    assert not ok and best.number == 4                               # 20% over beats 50% over


def test_a_rebuilt_polish_fine_tunes_as_long_as_it_did(tmp_path, monkeypatch):
    """The best trial's files are on another machine: it is rebuilt with the plan it ran with
    (a polish's is longer than the study's), not the study's."""
    from types import SimpleNamespace

    from tinycompress.fit import output, search

    polished = {**vars(measure.TrainPlan()), "prune_epochs": 16.0, "cluster_epochs": 4.0}
    best = _rec(7, 0.1, 90, 1.0, True)
    best.candidate, best.params, best.plan = {"sparsity": {"fc1": 0.9}, "bits": {"fc1": 4}, "distill": 0.5}, {}, polished
    result = SimpleNamespace(best=best, ranges=[], baseline_accuracy=0.9)
    config = {"model": "m.keras", "board": "nucleo-f446re", "budgets": vars(measure.Budgets()),
              "plan": vars(measure.TrainPlan()), "workdir": str(tmp_path)}
    seen = {}

    def run_candidate(trial, setup, data, log=None, fixed=None):
        seen["plan"], seen["candidate"] = setup.plan, fixed
        trial.set_user_attr("artifacts", str(tmp_path / "rebuilt"))

    monkeypatch.setattr(search, "load_split", lambda config: None)
    monkeypatch.setattr(st, "run_candidate", run_candidate)
    assert output._artifacts(result, config, lambda s: None) == tmp_path / "rebuilt"
    assert seen["plan"] == measure.TrainPlan(**polished) and seen["plan"] != measure.TrainPlan()
    assert seen["candidate"] == Candidate({"fc1": 0.9}, {"fc1": 4}, 0.5)


def test_storage_spec_errors(tmp_path):
    with pytest.raises(UserError, match="journal:PATH or a database URL"):
        st.open_storage("fit.db")
    assert st.open_storage(f"journal:{tmp_path / 'a' / 'j.log'}") is not None
    assert (tmp_path / "a").is_dir()


# --- end to end on a tiny MLP -------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    import keras

    d = tmp_path_factory.mktemp("fit")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((900, 16)).astype(np.float32)
    y = np.argmax(x @ rng.standard_normal((16, 4)), axis=1).astype(np.int64)
    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([keras.Input((16,)), L.Dense(32, activation="relu", name="fc1"),
                          L.Dense(24, activation="relu", name="fc2"), L.Dense(4, activation="softmax", name="fc3")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=15, verbose=0)
    m.save(d / "mlp.keras")
    np.savez(d / "train.npz", x=x[:700], y=y[:700])
    np.savez(d / "test.npz", x=x[700:], y=y[700:])
    return d


def _args(d, *extra):
    return ["fit", str(d / "mlp.keras"), "--data", str(d / "train.npz"), "--epochs", "1", *extra]


@pytest.mark.parametrize("extra,message", [
    (["--board", "atmega328", "-o", "o"], "atmega328"),
    (["--board", "nucleo-f446re", "-o", "o", "--storage", "fit.db"], "journal:PATH"),
    (["--board", "nucleo-f446re", "-o", "o", "--max-flash", "lots"], "size 'lots'"),
])
def test_bad_options(mlp, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    assert main(_args(mlp, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_missing_data_and_model(mlp, tmp_path, capsys):
    assert main(["fit", str(mlp / "mlp.keras"), "--data", str(tmp_path / "none.npz"), "--board",
                 "nucleo-f446re", "-o", str(tmp_path / "o")]) == 2
    assert "none.npz not found" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "none.keras"), "--data", str(mlp / "train.npz"), "--board",
                 "nucleo-f446re", "-o", str(tmp_path / "o")]) == 2
    assert "none.keras does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_impossible_budget_exits_1_with_the_closest(mlp, tmp_path, capsys):
    out = tmp_path / "o"
    code = main(_args(mlp, "--board", "nucleo-f446re", "--max-flash", "1K", "--trials", "1", "-o", str(out)))
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "no setting meets the budgets" in captured.out and "closest: trial 0" in captured.out
    res = json.loads((out / "fit.json").read_text())
    jsonschema.validate(res, FitResult.schema())
    assert FitResult.from_json(res).to_json() == res
    assert res["feasible"] is False and res["best"]["stage"] == "probe"   # never fine-tuned
    assert res["best"]["excess"]["flash"] > 0 and res["check"]["ok"] is False
    assert (out / "manifest.json").is_file() and (out / "model.keras").is_file()


@pytest.mark.slow
def test_two_workers_share_one_journal_study(mlp, tmp_path, capsys):
    """Two processes (this one and a spawned worker) run trials of one journal-file study; the
    result is the study's best, read back from the journal by a third party."""
    import optuna

    journal = tmp_path / "study.journal"
    out = tmp_path / "o"
    code = main(_args(mlp, "--board", "nucleo-f446re", "--max-accuracy-drop", "30", "--trials", "4",
                      "--workers", "2", "--storage", f"journal:{journal}", "--study", "two",
                      "--test", str(mlp / "test.npz"), "-o", str(out), "--json"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    res = json.loads(captured.out)
    assert len(res["trials"]) >= 4 and len(res["workers"]) == 2
    assert all(sum(t["worker"] == w for t in res["trials"]) >= 1 for w in res["workers"])

    study = optuna.load_study(study_name="two", storage=st.open_storage(f"journal:{journal}"))
    best, ok = st.best(st.records(study.get_trials()))
    assert ok and res["best"]["number"] == best.number
    manifest = json.loads((out / "manifest.json").read_text())
    assert (out / manifest["tflite"]).read_bytes() == (Path(best.artifacts) / "model.tflite").read_bytes()
    assert manifest["optimize"] == res["best"]["candidate"]["optimize"] == best.candidate["optimize"]
    assert res["test"]["bit_exact"] is True and res["test"]["vectors"] == 200
    assert res["check"]["ok"] is True


def test_split_refuses_data_sorted_by_class():
    from tinycompress.errors import UserError
    from tinycompress.fit import measure

    x, y = np.zeros((1000, 2), np.float32), np.repeat(np.arange(10), 100)
    with pytest.raises(UserError, match=r"--val-split 0.1 \(the first 100 samples\) holds out every sample "
                                        r"of class 0.*shuffle it or give --val VAL.npz"):
        measure.split(x, y, 0.1)
    d = measure.split(x, np.random.default_rng(0).permutation(y), 0.1)
    assert len(d.y_val) == 100 and len(set(d.y_val.tolist())) == 10
