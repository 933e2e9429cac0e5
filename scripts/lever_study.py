"""Stage-2 levers measured on one stage 1 per seed (issue 22): for each seed, IDC trains once with the base
settings, then every variant trains stage 2 again from that run's ``checkpoints/stage1.ckpt`` (so variants differ
only in what they change), and K-means runs on the same table through the same harness (``method=kmeans``).

One JSON line per run goes to ``results/levers/<study>.jsonl`` (the report's section "Lever studies"): ACC, NMI,
the open gates and, from the run's ``eval.json``, the explanations' uniqueness and diversity (issue 22, section 5:
a lever that buys ACC by making every explanation the same is not a gain). Runs already recorded are skipped, so
the same command continues an interrupted study::

    python scripts/lever_study.py --study synthetic_unbalanced --seeds 0 1 2 \\
        --variant kmeans_proportions head.balance=kmeans_proportions --variant min_share head.balance=min_share \\
        -- dataset=synthetic 'dataset.class_shares=[0.55,0.25,0.15,0.05]'
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from idc import results as store
from idc.config import compose_run
from idc.console import quiet_libraries
from idc.train import train

BASE, KMEANS = "base", "kmeans"
#: what a record takes from the run's metrics, and from its eval.json (the interpretability metrics)
METRICS = ("dataset", "acc", "nmi", "ari", "cluster_sizes", "open_local_gates", "open_global_gates")
EXPLANATIONS = ("uniqueness", "diversity_clusters", "diversity_global_gates", "empty_sets_clusters",
                "empty_sets_global_gates", "global_gate_fidelity")


def done(path: Path) -> set[tuple[str, int]]:
    if not path.is_file():
        return set()
    return {(r["variant"], int(r["seed"])) for r in map(json.loads, path.read_text().splitlines())}


def explanations(run_dir: Path) -> dict:
    """The interpretability metrics of a finished run (:data:`EXPLANATIONS`; none for K-means, which has no gates)."""
    path = run_dir / "eval.json"
    payload = json.loads(path.read_text()) if path.is_file() else {}
    return {k: payload[k] for k in EXPLANATIONS if k in payload}


def backfill(out: Path, runs: Path) -> None:
    """Add :data:`EXPLANATIONS` to the records of ``out`` that lack them, from their run directories."""
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for r in records:
        r.update(explanations(runs / r["study"] / r["variant"] / f"seed{r['seed']}"))
    out.write_text("".join(json.dumps(r) + "\n" for r in records))


def run(overrides: list[str], run_dir: Path) -> tuple[dict, float]:
    started = time.perf_counter()
    cfg = compose_run(["logger=none", "eval.plots=false", *overrides], run_dir)
    return train(cfg), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", required=True, help="the records' file name and the study's name in the report")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "OVERRIDE"),
                        help="a stage-2 variant: its name, then its overrides (repeatable)")
    parser.add_argument("--runs", type=Path, default=Path("outputs/levers"), help="where the run directories go")
    parser.add_argument("--backfill", action="store_true",
                        help="add the explanations' metrics to the study's records from their run directories, then stop")
    parser.add_argument("overrides", nargs="*", help="the base settings of every run")
    args = parser.parse_args()
    quiet_libraries()  # the records and one line per run, not Lightning's device lines and tips

    out = store.DEFAULT_ROOT / store.LEVERS / f"{args.study}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.backfill:
        return backfill(out, args.runs)
    recorded = done(out)
    variants = {name: list(overrides) for name, *overrides in args.variant}
    for seed in args.seeds:
        base_dir = args.runs / args.study / BASE / f"seed{seed}"
        stage1 = f"model.stage1_checkpoint={(base_dir / 'checkpoints' / 'stage1.ckpt').resolve()}"
        plan = [(KMEANS, ["method=kmeans"], [], args.runs / args.study / KMEANS / f"seed{seed}"),
                (BASE, [], [], base_dir)]
        plan += [(name, extra, [stage1], args.runs / args.study / name / f"seed{seed}")
                 for name, extra in variants.items()]
        for name, extra, reuse, run_dir in plan:
            if (name, seed) in recorded:
                continue
            metrics, seconds = run([*args.overrides, f"seed={seed}", *extra, *reuse], run_dir)
            record = {"study": args.study, "variant": name, "seed": seed, "settings": args.overrides, "overrides": extra,
                      "seconds": round(seconds, 1),
                      **{k: metrics.get(k) for k in METRICS}, **explanations(run_dir)}
            with open(out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
