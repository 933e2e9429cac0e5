#!/usr/bin/env python
"""IDC as a scikit-learn estimator: cluster scikit-learn's digits, read each cluster's top features, save and
reload the model. Digits is small (1797 x 64): narrow networks, 60 epochs and one thread (about 35 s of CPU;
more threads gain little on so small a table and spin against whatever else keeps the cores busy) are enough;
--epochs changes the schedule, --threads the torch threads (0: the cores this process may use).

    python scripts/example_estimator.py [--epochs 60] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_digits

from idc import IDC
from idc.console import apply_threads, quiet_libraries, threads_for
from idc.explain import top_features
from idc.metrics import clustering_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=60, help="total epochs (stage 1 takes the first half)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: the cores this process may use)")
    args = parser.parse_args()
    apply_threads(threads_for(args.threads or None))
    quiet_libraries()
    digits = load_digits()
    X = pd.DataFrame(digits.data, columns=[f"px{r}_{c}" for r in range(8) for c in range(8)])
    half = args.epochs // 2
    schedule = {"ungated_epochs": 6, "stage1_epochs": half + 1, "head_epochs": 4, "stage2_epochs": args.epochs - half - 1}
    # dense pixels: the lighter sparsity pressure of `experiment=digits`; batches of 64 give the gates more steps
    model = IDC(n_clusters=10, random_state=0, scaler="minmax", batch_size=64, schedule=schedule,
                model={"hidden": [256, 256, 512]}, gates={"hidden_dim": 64, "reg_lambda": 0.1},
                head={"hidden_dim": 256, "global_gates": {"aux_hidden_dim": 256}})
    labels = model.fit_predict(X)  # the digit labels are never shown to the model
    print("quality against the digit labels:", {k: round(v, 3) for k, v in clustering_metrics(digits.target, labels).items()})
    for k, feats in enumerate(top_features(model.cluster_gates_, model.feature_names_in_, top_k=4)):
        size = int((labels == k).sum())
        print(f"cluster {k} ({size:4d} samples):", ", ".join(f"{n}={v:.2f}" for n, v in feats) or "all gates closed")
    print(model.explain(X.iloc[:3], top_k=3).to_string())
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "idc_digits.pt")
        reloaded = IDC.load(path)
        assert (reloaded.predict(X) == labels).all()
        print(f"saved to {path.name} and reloaded: identical predictions")


if __name__ == "__main__":
    main()
