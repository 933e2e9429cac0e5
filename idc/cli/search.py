"""``idc-search``: an Optuna search over IDC's settings (``configs/hparams_search``), resumable.

    idc-search hparams_search=idc_silhouette dataset=digits           # label-free objective (default)
    idc-search hparams_search=idc_silhouette dataset=digits hparams_search.n_trials=50 trainer=gpu

Every other argument is a train override. Trials are run directories ``<storage dir>/trial<k>``; the study
(SQLite) sits beside them, so re-running the same command resumes the search.
"""
from __future__ import annotations

import sys

from idc.cli import plain


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(plain(__doc__))
        return 0
    from idc.cli.overrides import check, compose_errors, refuse

    check("idc-search", args)  # a misspelt key: the schema's "did you mean", before any compose
    import logging

    from idc import console
    from idc.search import run_search

    console.quiet_libraries()  # as idc-train: the trials' progress and summaries, not the libraries' banners
    console.route_lightning_logs()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    try:
        study = run_search(args)  # a trial's own error fails that trial only (the study goes on)
    except compose_errors() as err:  # the overrides' config does not compose or validate: nothing was run
        refuse("idc-search", err)
    done = [t for t in study.trials if t.value is not None]
    if done:
        best = study.best_trial
        print(f"best of {len(done)} trials: {best.value:.4f} with {best.params} ({best.user_attrs.get('run_dir')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
