"""What the report shows: the paper's tables we can run (datasets, metrics, methods, the schedule a \"not run\"
cell asks for), the kinds of rows, the order of schedules, and the data files beside ``published.yaml``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from idc import results as store
from idc.data.registry import BIOLOGICAL_DATASETS, WIDER_DATASETS
from idc.methods import BASELINES, METHODS, ablation_rows
from idc.run_dir import LABEL_SELECTED, SILHOUETTE_SELECTED

PAPER_DIR = Path(__file__).parents[1] / "paper"
OFFICIAL = PAPER_DIR / "official_measured.yaml"
ESTIMATES = PAPER_DIR / "run_estimates.yaml"
#: a method x dataset with records under several schedules shows them in this order
SCHEDULE_ORDER = ("paper", "short", store.SIZE_RULE_SCHEDULE, store.DEFAULT_SCHEDULE, "quick")
#: schedules kept as the "before" of a change of defaults: shown, but never IDC's headline (its ranked schedule, the
#: count of rows at or above K-means) and never filled (size_rule_deep: before the linear encoder for D > N;
#: no_size_rule: before datasets without a Table 7 row took the size rule)
KEPT_BEFORE = ("size_rule_deep", "no_size_rule")
SEEDS = 10  # seeds a "not run" command asks for


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    source: str = "metrics"  # metrics.json, or eval.json (IDC runs only)
    scale: float = 100.0  # to the published unit
    digits: int = 1


ACC, NMI, ARI = Metric("acc", "ACC (%)"), Metric("nmi", "NMI (%)"), Metric("ari", "ARI (%)")
GATE_F1 = Metric("gate_f1", "gate F1 (%)", "eval")
UNIQUENESS = Metric("uniqueness", "uniqueness", "eval", 1.0, 2)
DIVERSITY = Metric("diversity", "diversity (%)", "eval", 1.0)  # eval.json: diversity_clusters (paper's formula)
#: the paper's faithfulness is the official code's formula: r of importance with the ACC *left* after each removal
FAITHFULNESS = Metric("faithfulness", "faithfulness (official formula)", "eval", 1.0, 2)
#: ours beside it: r of importance with each removal's ACC *drop* (idc.metrics.interpretability.faithfulness)
FAITHFULNESS_DROP = Metric("faithfulness_drop", "faithfulness (r with the ACC drop)", "eval", 1.0, 2)
EVAL_KEYS = {"diversity": "diversity_clusters", "faithfulness": "faithfulness_official",
             "faithfulness_drop": "faithfulness"}
#: the baselines that train no network: seconds per run
CHEAP_BASELINES = tuple(m for m in BASELINES if not METHODS[m].trains)
#: where ``idc-paper`` puts its run directories (its --root default), for the commands of "not run" cells
RUNS_ROOT = "outputs/paper"


@dataclass(frozen=True)
class Explained:
    """A post-hoc explanation of a method's runs (``idc-results attribute RUN --method <attribution>``), shown
    as its own row and compared with the paper's row ``paper``."""

    method: str
    attribution: str  # idc.attributions.METHODS
    paper: str | None

    @property
    def row(self) -> str:
        return f"{self.method} + {self.attribution}"


@dataclass(frozen=True)
class PaperTable:
    key: str  # the table's key in published.yaml
    title: str
    datasets: tuple[str, ...]
    metrics: tuple[Metric, ...]
    methods: tuple[str, ...]  # rows shown even when not run
    schedule: dict[str, str]  # dataset -> the schedule a "not run" command uses
    admits: Callable[[str], bool] = lambda method: True  # recorded methods shown beyond ``methods``
    paper_names: dict[str, str | None] = field(default_factory=dict)  # beyond the registry's
    published_datasets: dict[str, str] = field(default_factory=dict)  # our dataset -> published.yaml's
    explained: tuple[Explained, ...] = ()  # rows of post-hoc explanations, after the methods' own rows
    note: str = ""


TABLES = (
    PaperTable("real_data_acc", "Real data: the high-dimensional biological tables (ACC)",
               ("allaml", "prostate", "tox171", "srbct", "biase"), (ACC,), ("idc", "idc_faithful", *BASELINES),
               {"allaml": "short", "prostate": "short", "tox171": "short", "srbct": "paper", "biase": "paper"}),
    PaperTable("mnist_fashion", "MNIST10K (the MNIST / FashionMNIST table)", ("mnist10k",), (ACC, ARI, NMI),
               ("idc", "idc_faithful", "idc_no_gates", "kmeans"), {"mnist10k": "paper"},
               admits=lambda m: False, published_datasets={"mnist10k": "mnist_test10k"}),
    PaperTable("interpretability_mnist10k", "Interpretability on MNIST10K", ("mnist10k",),
               (ACC, UNIQUENESS, DIVERSITY, FAITHFULNESS, FAITHFULNESS_DROP), ("idc", "idc_no_gates", "kmeans"),
               {"mnist10k": "paper"},
               admits=lambda m: False, paper_names={"kmeans": None, "idc_no_gates": None},
               explained=(Explained("kmeans", "kernel_shap", "K-means + SHAP"),
                          Explained("idc_no_gates", "ig", "IDC w/o gates + IntegGrads"),
                          Explained("idc_no_gates", "gradient_shap", "IDC w/o gates + GradSHAP"))),
    PaperTable("synthetic", "Synthetic data (ACC and gate F1)", ("synthetic",), (ACC, GATE_F1),
               ("idc", "idc_faithful", "kmeans"), {"synthetic": "paper"}, paper_names={"kmeans": "K-means+SHAP"}),
    PaperTable("ablation_mnist60k", "Ablations (the paper's MNIST60K table; ours on MNIST10K where named)",
               ("mnist10k", "mnist60k"), (ACC, ARI, NMI), tuple(ablation_rows()),
               {"mnist10k": "paper", "mnist60k": "paper"}, admits=lambda m: m.startswith("idc"),
               paper_names={name: row.paper for name, row in ablation_rows().items()}),
    PaperTable("cnae9_mfeat", "CNAE-9 and MFEAT-Zernike (no published numbers)", ("cnae9", "mfeat_zernike"), (ACC,),
               ("idc", "idc_faithful", *BASELINES), {"cnae9": "paper", "mfeat_zernike": "paper"}),
    PaperTable("wider_benchmark", "Wider benchmark (not in the paper)", (*WIDER_DATASETS, *BIOLOGICAL_DATASETS),
               (ACC, NMI), ("idc", *CHEAP_BASELINES),
               {d: store.SIZE_RULE_SCHEDULE for d in (*WIDER_DATASETS, *BIOLOGICAL_DATASETS)},
               note="Tables of the unsupervised feature-selection literature (scikit-feature; "
                    "`../shared/data/SOURCES.md`) beside the paper's biological tables, every method as a user's "
                    "first run gets it: IDC with the settings the size rule chooses from the table's shape "
                    "(idc-paper's `--schedule size_rule`), the baselines with their defaults. Nothing here is tuned "
                    "to a dataset. No published numbers."),
)

# ------------------------------------------------------------------------------------------------ numbers
ROW_FINAL, ROW_CONSENSUS = "final epoch", "consensus"
ROW_SILHOUETTE, ROW_LABEL = "silhouette-picked epoch (label-free)", "label-picked epoch (peeks at labels; not a result)"
LABEL_FREE = (ROW_FINAL, ROW_CONSENSUS, ROW_SILHOUETTE)
PICKS = {ROW_SILHOUETTE: SILHOUETTE_SELECTED, ROW_LABEL: LABEL_SELECTED}


def schedule_rank(schedule: str) -> tuple[int, str]:
    return (SCHEDULE_ORDER.index(schedule) if schedule in SCHEDULE_ORDER else len(SCHEDULE_ORDER), schedule)


@lru_cache(maxsize=1)
def official() -> dict[str, Any]:
    return yaml.safe_load(OFFICIAL.read_text())


@lru_cache(maxsize=1)
def estimates() -> dict[str, Any]:
    return yaml.safe_load(ESTIMATES.read_text())

