"""tinycompress fit MODEL --data TRAIN.npz --board B [budgets] -o OUTDIR: search compression
settings that meet the budgets with the least accuracy loss (tinycompress.fit)."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _size(text):
    from ..boards import parse_size

    return None if text is None else parse_size(text)


def _fmt_trial(r) -> str:
    from ..fit.study import POLISH_SCALE

    f = r.figures or {}
    lat = f.get("latency_ms")
    what = {"probe": "over budget at the probe, not fine-tuned", "pruned": "stopped early (hopeless)",
            "full": "fine-tuned"}.get(r.stage, r.state.lower())
    if r.polish_of is not None:
        what = f"trial {r.polish_of} fine-tuned {POLISH_SCALE:g}x longer"
    if r.state == "FAIL":
        return f"trial {r.number}: failed ({r.worker})"
    parts = [f"trial {r.number}: {what}"]
    if f:
        parts.append(f"flash {f['flash_bytes']:,} B, RAM {f['ram_bytes']:,} B"
                     + (f", {lat:.2f} ms" if lat is not None else ""))
    if r.drop_pp is not None:
        parts.append(f"drop {r.drop_pp:+.2f} pp" + ("" if r.drop_upper_pp is None else f" (<= {r.drop_upper_pp:+.2f})"))
    if r.seconds is not None:
        parts.append(f"{r.seconds:.0f} s")
    return ", ".join(parts) + (" [bold green]meets the budgets[/]" if r.feasible else "")


def front_table(result):
    from rich.table import Table

    t = Table(title="Pareto front (accuracy drop vs flash vs latency)", title_justify="left")
    for col in ("trial", "drop pp", "flash B", "RAM B", "latency ms", "fits", "sparsity / bits"):
        t.add_column(col, justify="left" if col in ("fits", "sparsity / bits") else "right")
    for r in result.front:
        f, c = r.figures, r.candidate
        layers = ", ".join(f"{k} {s:.0%}/{c['bits'][k]}b" for k, s in c["sparsity"].items())
        mark = "*" if result.best is not None and r.number == result.best.number else ""
        lat = "-" if f["latency_ms"] is None else f"{f['latency_ms']:.3f}"
        t.add_row(f"{r.number}{mark}", f"{r.drop_pp:+.2f}", f"{f['flash_bytes']:,}", f"{f['ram_bytes']:,}", lat,
                  "yes" if r.feasible else "no", layers + (f", distill {c['distill']:g}" if c["distill"] else "")
                  + (f", learning rate x{c['lr_scale']:g}" if c.get("lr_scale", 1.0) != 1.0 else "")
                  + f", --optimize {c.get('optimize', 'balanced')}")
    return t


@click.command("fit")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="TRAIN.npz with x and integer labels y (a held-out part measures accuracy).")
@click.option("--board", "-b", required=True, help="Board name (see `tinycompress boards`).")
@click.option("--max-flash", help="Flash budget, e.g. 30K.")
@click.option("--max-ram", help="RAM budget (static + stack), e.g. 16K.")
@click.option("--max-latency-ms", type=click.FloatRange(0, min_open=True), help="Latency budget (estimate).")
@click.option("--max-accuracy-drop", type=click.FloatRange(0), metavar="PP",
              help="Most accuracy lost on the held-out split, in percentage points.")
@click.option("--accuracy-margin", type=click.FloatRange(0), metavar="PP",
              help="Added to each held-out drop before it is compared with --max-accuracy-drop "
                   "(default: one standard error of the paired drop estimate).")
@click.option("--trials", type=click.IntRange(1), help="Trials of the study (all processes); default 20.")
@click.option("--time-budget", type=click.FloatRange(0, min_open=True), metavar="MIN",
              help="Minutes this process searches.")
@click.option("--storage", help="Shared study: journal:PATH (a journal file) or a database URL.")
@click.option("--study", "study_name", help="Study name (default: from the model, board and budgets).")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Local processes running trials of the study.")
@click.option("--epochs", type=click.FloatRange(0.1, 1000), default=8.0, show_default=True,
              help="Pruning fine-tuning epochs per candidate (weight sharing: a quarter, at least 1).")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=2e-3, show_default=True,
              help="The pruning fine-tuning's Adam learning rate (cosine decay); the search tries it "
                   "and twice it.")
@click.option("--polish", type=click.IntRange(0), default=1, show_default=True,
              help="Fine-tune this many of the most promising candidates again, twice as long, at the end.")
@click.option("--val", type=click.Path(path_type=Path),
              help="VAL.npz: held-out samples the baseline did not train on, to measure accuracy "
                   "drops (default: --val-split of TRAIN.npz, where drops are overstated when the "
                   "baseline trained on them).")
@click.option("--val-split", type=click.FloatRange(0.01, 0.5), default=0.1, show_default=True,
              help="Without --val: fraction of TRAIN.npz held out, its first samples (at most 5000; "
                   "data sorted by class is refused).")
@click.option("--test", type=click.Path(path_type=Path),
              help="TEST.npz: verify the result's C bit-exact on it and report its accuracy.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path),
              help="Where the best model's C, model.keras and fit.json go.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
@click.pass_context
def command(ctx, model, data, board, max_flash, max_ram, max_latency_ms, max_accuracy_drop, accuracy_margin, trials,
            time_budget, storage, study_name, workers, epochs, learning_rate, polish, val, val_split, test, seed, outdir, as_json):
    """Search per-layer sparsity and shared-weight bits (and distillation, the learning rate) of
    MODEL to meet every budget on BOARD with the least accuracy loss; every candidate measured as
    deployed. Exits 1, after writing the closest candidate, when none meets the budgets."""
    from rich.console import Console

    from ..fit import TrainPlan, fit

    err = Console(stderr=True, highlight=False)
    plan = TrainPlan(prune_epochs=epochs, cluster_epochs=max(1.0, epochs / 4), prune_lr=learning_rate, seed=seed)
    result = fit(model, data, board, outdir=outdir, max_flash=_size(max_flash), max_ram=_size(max_ram),
                 max_latency_ms=max_latency_ms, max_accuracy_drop=max_accuracy_drop,
                 accuracy_margin=accuracy_margin, trials=trials, time_budget=time_budget, storage=storage, study=study_name, workers=workers,
                 val=val, val_split=val_split, test=test, plan=plan, seed=seed, polish=polish,
                 on_trial=lambda r: err.print(_fmt_trial(r)), log=lambda s: err.print(f"[dim]{s}[/]"))
    if as_json:
        click.echo(json.dumps(result.to_dict(), sort_keys=True, default=str))
    else:
        _print_summary(result)
    if not result.feasible:
        ctx.exit(1)


def _print_summary(result) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(width=140, highlight=False)
    done = sum(t.state == "COMPLETE" for t in result.trials)
    console.print(f"study {result.study_name}: {len(result.trials)} trials ({done} complete) by "
                  f"{len(result.workers)} process(es) in {result.seconds:.0f} s")
    console.print(front_table(result))
    for note in result.notes:
        console.print(f"  note: {note}")
    b = result.best
    if b is None:
        console.print("[bold red]no candidate was measured[/]")
        return
    f = b.figures
    head = "best" if result.feasible else "[bold red]no setting meets the budgets[/]; closest"
    over = ", ".join(f"{k} over by {v:.1%}" for k, v in b.excess.items() if v > 0)
    console.print(f"{head}: trial {b.number}, flash {f['flash_bytes']:,} B, RAM {f['ram_bytes']:,} B, "
                  f"held-out drop {b.drop_pp:+.2f} pp" + (f" ({over})" if over else ""))
    if result.test is not None:
        t = result.test
        console.print(f"test set: C accuracy {t['accuracy']:.2%} on {t['vectors']} samples (bit-exact), "
                      f"float baseline {t['baseline_accuracy']:.2%}, drop {t['drop_pp']:+.2f} pp")
    if result.outdir is not None:
        console.print(f"wrote {result.outdir} (C for the board), {result.keras_path}, {result.json_path}")
