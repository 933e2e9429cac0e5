"""``idc-paper``: every method x dataset x seed of the paper's tables that is not DONE yet, as Hydra multiruns
with a parallel launcher, then the tables (``idc-table``).

    idc-paper --quick --seeds 2                 # quick schedules on the datasets present: minutes on a CPU
    idc-paper --schedule short                  # a quarter of the paper's epochs on allaml, prostate, srbct, tox171
    idc-paper --schedule default                # the wider benchmark and the biological tables, default settings
    idc-paper --schedule size_rule --methods idc   # the same with the size rule on, as for a user's own table
    idc-paper                                   # the paper's schedules, 10 seeds (hours to days on a CPU)
    idc-paper --datasets allaml srbct --methods idc kmeans --launcher submitit_slurm

The ablation table (the paper's Table 5 and rows for gates=hard_concrete and head=dec; its rows and their
overrides in idc/paper/ablation.yaml), one Hydra multirun over the seeds per row, the rows that train their
own stage 1 first, then those that reuse the IDC row's checkpoints/stage1.ckpt of the same dataset and seed:

    idc-paper --table ablation --schedule smoke --seeds 1 --datasets synthetic   # the plumbing, about a minute
    idc-paper --table ablation --schedule quick --seeds 3 --datasets mnist10k --jobs 1   # this 2-core CPU
    idc-paper --table ablation --schedule paper --seeds 10 --datasets mnist60k --launcher basic trainer=gpu  # on a GPU

Run directories are ``<root>/<schedule>/<method>/<dataset>/seed<k>``: re-running resumes (DONE runs are
skipped, unfinished ones restart from their last checkpoint) and a failed run is reported in the tables with
its log, never stopping the others.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from idc.cli import plain
from idc.cli.overrides import check as check_overrides
from idc.methods import METHODS, ablation_rows
from idc.run_dir import STAGE1_CHECKPOINT

from idc.data.registry import (  # the dataset lists of the tables
    ALL_DATASETS, BIOLOGICAL_DATASETS, PAPER_DATASETS, QUICK_DATASETS, SHORT_DATASETS, WIDER_DATASETS,
)

#: schedule (configs/schedule) -> (the datasets it runs when none are named, the datasets it may run)
SCHEDULES = {"paper": (PAPER_DATASETS, PAPER_DATASETS), "quick": (QUICK_DATASETS, ALL_DATASETS),
             "short": (SHORT_DATASETS, SHORT_DATASETS),
             "default": ((*WIDER_DATASETS, *BIOLOGICAL_DATASETS), ALL_DATASETS),
             "size_rule": ((*WIDER_DATASETS, *BIOLOGICAL_DATASETS), ALL_DATASETS),
             "smoke": (("synthetic",), ALL_DATASETS)}
#: --schedule -> its idc-train overrides: ``size_rule`` is the default schedule with the size rule on, what a
#: user's own table gets (idc/size_rule.py); every other one is the config group's file of that name
SCHEDULE_OVERRIDES = {"size_rule": ("schedule=default", "size_rule.enabled=true")}
#: --table: the method tables, or the ablation table (ablation_mnist60k in idc/paper/published.yaml)
TABLES = ("methods", "ablation")


def present(datasets: list[str]) -> list[str]:
    from idc.data.registry import files_present

    return [d for d in datasets if files_present(d)]


def chosen_datasets(args: argparse.Namespace) -> list[str]:
    """The datasets to run: those named (or the defaults) whose files are present; named ones that are absent
    are reported, not dropped in silence."""
    defaults, known = SCHEDULES[args.schedule]
    wanted = args.datasets or list(defaults)
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise SystemExit(f"idc-paper: no {args.schedule} schedule for {', '.join(unknown)} "
                         f"(schedule={args.schedule} runs {', '.join(known)})")
    datasets = present(wanted)
    if args.datasets and len(datasets) < len(wanted):
        missing = [d for d in wanted if d not in datasets]
        print(f"idc-paper: skipped, files not in the data directory: {', '.join(missing)} (see `idc-data`)",
              file=sys.stderr)
    if not datasets:
        raise SystemExit("idc-paper: none of the datasets' files are in the data directory; set IDC_DATA_DIR")
    return datasets


def sweep_dir(args: argparse.Namespace) -> Path:
    """Where this command's runs go: ``<root>/<schedule>`` (``<root>/<schedule>/ablation`` for the ablation table)."""
    return args.root / args.schedule / ("ablation" if args.table == "ablation" else "")


def row_overrides(args: argparse.Namespace) -> dict[str, list[str]]:
    """The overrides of each row of the table asked for (methods, or the ablation's rows in run order), a stage-2
    row pointing ``model.stage1_checkpoint`` at its owner's run of the same dataset and seed."""
    if args.table != "ablation":
        return {m: list(METHODS[m].overrides) for m in args.methods}
    out = {}
    for name, row in ablation_rows().items():
        out[name] = list(row.run_overrides())
        if row.stage1 != "own":
            owner = sweep_dir(args).resolve() / row.stage1 / "${dataset.name}" / "seed${seed}" / STAGE1_CHECKPOINT
            out[name].append(f"model.stage1_checkpoint='{owner}'")
    return out


def expected_runs(args: argparse.Namespace, datasets: list[str]) -> list[Path]:
    """The run directory of every method (row) x dataset x seed this command is meant to produce."""
    return [sweep_dir(args) / m / d / f"seed{k}" for m in row_overrides(args) for d in datasets for k in range(args.seeds)]


def check_configs(args: argparse.Namespace, datasets: list[str]) -> None:
    """Compose and validate (:func:`idc.schema.validate`) each dataset under the schedule and each method on
    the first dataset, so that a bad combination stops this command before any run starts."""
    from idc.config import compose
    from idc.schema import ConfigError

    combos = [[f"dataset={d}"] for d in datasets] + [
        [f"dataset={datasets[0]}", *(o for o in overrides if not o.startswith("model.stage1_checkpoint="))]
        for overrides in row_overrides(args).values()]
    for overrides in combos:
        try:
            compose([*overrides, *schedule_overrides(args), f"logger={args.logger}", *args.overrides])
        except ConfigError as err:
            raise SystemExit(f"idc-paper: {' '.join([*overrides, *schedule_overrides(args)])}: {err}") from None


def schedule_overrides(args: argparse.Namespace) -> list[str]:
    """The idc-train overrides that select ``--schedule`` (:data:`SCHEDULE_OVERRIDES`)."""
    return list(SCHEDULE_OVERRIDES.get(args.schedule, (f"schedule={args.schedule}",)))


def pending(args: argparse.Namespace, method: str, datasets: list[str]) -> list[str]:
    """The datasets on which some seed of ``method`` (a row) has no DONE run yet (idc-train's ``skip_done`` test)."""
    from idc.run_dir import is_done

    return [d for d in datasets if not all(is_done(sweep_dir(args) / method / d / f"seed{k}") for k in range(args.seeds))]


def commands(args: argparse.Namespace, datasets: list[str]) -> list[list[str]]:
    """One ``idc-train`` multirun (datasets x seeds) per method or ablation row, in the order they must run; a row
    whose runs are all DONE starts no multirun (and pays no start-up), the datasets it finished leave its sweep."""
    sweep = sweep_dir(args)
    out = []
    for method, overrides in row_overrides(args).items():
        todo = pending(args, method, datasets)
        if len(todo) < len(datasets):
            done = [d for d in datasets if d not in todo]
            print(f"idc-paper: already done, skipped: {method} on {', '.join(done)} ({args.seeds} seeds)", flush=True)
        if not todo:
            continue
        out.append([
            sys.executable, "-m", "idc.cli.train", "-m", *overrides, *args.overrides,
            "dataset=" + ",".join(todo), *schedule_overrides(args),
            f"seed=range({args.seeds})", "skip_done=true", f"logger={args.logger}",
            f"hydra/launcher={args.launcher}", *([f"hydra.launcher.n_jobs={args.jobs}"] if args.launcher == "joblib" else []),
            f"hydra.sweep.dir={sweep}", f"hydra.sweep.subdir={method}/${{dataset.name}}/seed${{seed}}",
        ])
    return out


def build_parser() -> argparse.ArgumentParser:
    """``idc-paper``'s arguments (the report's "not run" commands are checked against them)."""
    parser = argparse.ArgumentParser(description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedule", choices=list(SCHEDULES), default="paper",
                        help="configs/schedule/<schedule>.yaml, or size_rule: paper (Table 7), short (a quarter of the epochs, "
                             "four biomedical tables), default (the first-run defaults; the wider benchmark and the "
                             "biological tables), size_rule (default with the size rule on: what a user's table "
                             "gets), quick (smoke runs)")
    parser.add_argument("--quick", dest="schedule", action="store_const", const="quick", help="= --schedule quick")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--datasets", nargs="*", help=f"default: those present of {', '.join(PAPER_DATASETS)}")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--launcher", default="joblib", help="joblib (local), basic, or an installed Hydra launcher")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--logger", default="none")
    parser.add_argument("--root", type=Path, default=Path("outputs/paper"))
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--table", choices=TABLES, default="methods",
                        help="methods: the methods x datasets tables; ablation: the rows of idc/paper/ablation.yaml")
    parser.add_argument("overrides", nargs="*",
                        help="idc-train overrides for every run (e.g. trainer=gpu), anywhere on the line")
    return parser


#: a Hydra override (``key=value``, ``+key=value``, ``~key``), told apart from a dataset or method name
OVERRIDE = re.compile(r"^(?:[~+]{1,2}[\w./@-]+(?:=.*)?|[\w./@][\w./@-]*=.*)$")  # never an option (--jobs=2)
#: the options that take exactly one value (an override-looking value after one of them is that value)
ONE_VALUE = ("--schedule", "--seeds", "--launcher", "--jobs", "--logger", "--root", "--table")


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` without the idc-train overrides, and those overrides, wherever they stand: after ``--datasets`` or
    ``--methods`` (whose lists would otherwise swallow ``trainer=gpu`` or ``~logger``) as well as at the end."""
    options, overrides = [], []
    for i, token in enumerate(argv):
        takes_it = i > 0 and argv[i - 1] in ONE_VALUE
        (overrides if OVERRIDE.match(token) and not takes_it else options).append(token)
    return options, overrides


def main(argv: list[str] | None = None) -> int:
    options, overrides = split_overrides(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(options)
    args.overrides += overrides
    check_overrides("idc-paper", args.overrides)
    env = dict(os.environ)
    if args.launcher == "joblib":  # jobs side by side share the cores instead of each taking all of them
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(args.jobs, 1))))
    datasets = chosen_datasets(args)
    check_configs(args, datasets)
    broken = []
    for cmd in commands(args, datasets):
        print(" ".join(cmd), flush=True)
        if not args.dry_run:  # a failed job is recorded in its run directory and the sweep goes on (exit 1 at its
            if subprocess.run(cmd, check=False, env=env).returncode:  # end); so is a sweep that stops (launcher...)
                broken.append(" ".join(cmd))
    if args.dry_run:
        return 0
    from idc.results import add_done
    from idc.tables import build_tables

    add_done(expected_runs(args, datasets))  # DONE runs' small files into results/ (the committed store)
    written = build_tables(sweep_dir(args), expected=expected_runs(args, datasets))
    print(written["acc"].read_text())
    for cmd in broken:
        print(f"idc-paper: this sweep had failed jobs or stopped before its end (failed runs and runs never started "
              f"are listed in {written['runs']}):\n  {cmd}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
