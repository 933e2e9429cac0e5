#!/usr/bin/env python
"""IDC as a scikit-learn estimator: cluster scikit-learn's digits, read each cluster's top features, save and
reload the model. The default schedule takes about two minutes on two CPU cores; --epochs shortens it.

    python scripts/example_estimator.py [--epochs 80]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_digits

from idc import IDC
from idc.explain import top_features
from idc.metrics import clustering_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=None, help="total epochs (stage 1 takes the first half)")
    args = parser.parse_args()
    digits = load_digits()
    X = pd.DataFrame(digits.data, columns=[f"px{r}_{c}" for r in range(8) for c in range(8)])
    options = {}
    if args.epochs:
        half = args.epochs // 2
        options["schedule"] = {"ungated_epochs": 6, "stage1_epochs": half + 1, "head_epochs": 4,
                               "stage2_epochs": args.epochs - half - 1}
    model = IDC(n_clusters=10, random_state=0, scaler="minmax", **options)
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
