"""``IDC``: the scikit-learn face of the project, over the same config, module and training code as the CLI.

    from idc import IDC
    model = IDC(n_clusters=4, random_state=0).fit(X)          # numpy array or pandas DataFrame
    model.labels_, model.local_gates_, model.cluster_gates_   # clusters, per-sample and per-cluster gates
    model.explain(X, top_k=3)                                 # why: top features per sample, with names
    model.refit_cluster_gates(X, reg_lambda=30)               # fewer features per cluster, same clusters
    model.save("idc.pt"); IDC.load("idc.pt").predict(X_new)

Keyword options named like a config group (``gates``, ``head``, ``model``, ``schedule``) are merged into that
group, e.g. ``IDC(n_clusters=3, schedule={"stage2_epochs": 100})``, or name one of its options
(``IDC(schedule="quick")``, ``configs/schedule/``); any other keyword goes to the Lightning ``Trainer``
(``precision="bf16-mixed"``, ``enable_progress_bar=True``, ...), except the epochs and steps, which the schedule sets.
"""
from __future__ import annotations

import inspect
import logging
import numbers
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from idc.consensus import combine_runs, run_seeds
from idc.console import available_cores, ignore_known_warnings, parallel_jobs
from idc.data import DataError, Table
from idc.data.preprocess import SCALERS, Fitted, check_clusters, check_finite, scale
from idc.explain import column_names, top_features
from idc.inference import predict
from idc.io import replacing
from idc.metrics.interpretability import gates_separated
from idc.module import IDCModule
from idc.parallel import run_in_processes, worker_threads
from idc.refit_global_gates import PREFIX, refit
from idc.schema import SCHEDULE_OWNED, did_you_mean, validate
from idc.size_rule import apply_size_rule, leaves

CONFIG_GROUPS = ("gates", "head", "model", "schedule")
FORMAT = "idc-estimator/1"


class IDC(ClusterMixin, TransformerMixin, BaseEstimator):
    """Interpretable Deep Clustering (Svirsky & Lindenbaum, ICML 2024).

    Args:
        n_clusters: number of clusters K.
        random_state: seed of everything random (same seed, same labels on CPU).
        scaler: ``standard``, ``minmax``, ``tfidf`` (counts) or ``none``, fitted on the training table and kept.
        batch_size: rows per training step (capped at N); None: chosen from the table's shape with the
            rest of the size rule (:mod:`idc.size_rule`: full batch up to 1024 rows, the local gates' sparsity
            weight, the high-dimensional settings for D > N and D >= 100, a schedule in optimizer steps), which
            never replaces a setting given
            here or in a group's dict. ``size_rule_`` says what it chose.
        n_init: independent runs (seeds ``random_state .. random_state + n_init - 1``) combined into one consensus
            partition (:func:`idc.consensus.combine_runs`); ``agreement_`` is the runs' mean ARI to it.
        n_jobs: of those runs, how many train at once in joblib's worker processes (joblib's convention: None
            one, -1 as many as cores; the cores are split between them).
        accelerator, devices: Lightning's (``auto`` uses a GPU when there is one).
        **options: ``gates``/``head``/``model``/``schedule`` dicts merged into those config groups (or the name
            of one of a group's options); anything else is passed to the Lightning ``Trainer``.

    Fitted attributes: ``labels_`` (N), ``local_gates_`` (N x D), ``cluster_gates_`` (K x D),
    ``embedding_`` (N x bottleneck), ``n_features_in_``, ``feature_names_in_``, ``size_rule_`` (what the size
    rule chose); with ``n_init > 1`` the labels are the consensus, the local gates averaged over the runs that
    agree with it per sample, the cluster gates averaged over the matched clusters of all runs, ``agreement_``
    the mean ARI of the runs to the consensus (a label-free confidence; None with one run), ``run_agreement_``
    each run's, and ``module_`` (``predict``, ``transform`` on new samples) the run that agrees best.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        random_state: int = 0,
        scaler: str = "standard",
        batch_size: int | None = None,
        n_init: int = 1,
        n_jobs: int | None = None,
        accelerator: str = "auto",
        devices: int | str = 1,
        **options: Any,
    ):
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.scaler = scaler
        self.batch_size = batch_size
        self.n_init = n_init
        self.n_jobs = n_jobs
        self.accelerator = accelerator
        self.devices = devices
        self._options = sorted(options)
        for key, value in options.items():
            setattr(self, key, value)

    # ------------------------------------------------------------------------------- sklearn plumbing
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep)
        params.update({k: getattr(self, k) for k in self._options})
        return params

    def set_params(self, **params: Any) -> IDC:
        known = set(super().get_params(deep=False))
        for key, value in params.items():
            if key not in known and key not in self._options:
                self._options = sorted([*self._options, key])
            setattr(self, key, value)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags

    @classmethod
    def from_config(cls, cfg: DictConfig, **kwargs: Any) -> IDC:
        """An estimator with the ``gates``, ``head`` and ``model`` groups, seed, batch size and K of a composed
        Hydra/OmegaConf config (e.g. ``idc.config.compose(["dataset=digits"])``)."""
        groups = {g: OmegaConf.to_container(cfg[g], resolve=True) for g in CONFIG_GROUPS}
        params = dict(
            n_clusters=int(cfg.dataset.n_clusters or 8),
            random_state=int(cfg.seed),
            scaler=str(cfg.dataset.get("scaler", "standard")),
            batch_size=int(cfg.dataset.batch_size),
            n_init=int(cfg.model.get("n_init", 1)),
            n_jobs=int(cfg.model.get("n_jobs", 1)),
        )
        return cls(**{**params, **groups, **kwargs})

    # ------------------------------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None) -> IDC:
        """Train on ``X`` (samples x features). ``y``, when given, only feeds the logged metrics: it is
        never used for training."""
        check_trainer_keywords([k for k in self._options if k not in CONFIG_GROUPS],
                               own=(*super().get_params(deep=False), *CONFIG_GROUPS))
        table = self._table(X, y, fitting=True)
        if self.scaler not in (None, "none", *SCALERS):
            raise DataError(f"scaler must be one of {sorted(SCALERS)} or 'none', got {self.scaler!r}")
        self._fitted_ = Fitted.of(scale(table, self.scaler))  # kept: new samples are scaled the same way
        table.X = self._fitted_.rescale(table.X).astype(np.float32)
        cfg = self._config(table)
        if cfg.model.get("embedding_clusterer"):
            raise ValueError("IDC clusters with its trained head; for K-means on the stage-1 embeddings (method=ae_kmeans) "
                             "use idc-train method=ae_kmeans")
        trainer_kwargs = {k: getattr(self, k) for k in self._options if k not in CONFIG_GROUPS}
        trainer_kwargs.setdefault("accelerator", self.accelerator)
        trainer_kwargs.setdefault("devices", self.devices)
        trainer_kwargs.setdefault("enable_model_summary", False)
        seeds = run_seeds(int(self.random_state), int(self.n_init))
        configs = [OmegaConf.merge(cfg, {"seed": seed}) for seed in seeds]
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, numbers.Integral)
                                        or self.n_jobs == 0):
            raise ValueError(f"IDC(n_jobs={self.n_jobs!r}): give None, a whole number of runs at once, or -1 (as "
                             "many as cores), -2 (all but one), ...")
        jobs = min(parallel_jobs(self.n_jobs, available_cores()), len(seeds))
        if jobs > 1:
            runs = run_in_processes(_fit_seed, [(c, table, trainer_kwargs) for c in configs], jobs,
                                    worker_threads(None, jobs))
        else:
            runs = [_fit_seed(c, table, trainer_kwargs) for c in configs]
        modules, outs = [m for m, _ in runs], [o for _, o in runs]
        chosen, self.agreement_, self.run_agreement_ = 0, None, None
        out = dict(outs[0])
        if len(outs) > 1:
            both = combine_runs([o["clusters"] for o in outs], int(self.n_clusters), [o["local_gates"] for o in outs],
                                [o["global_gates"] for o in outs])
            chosen, self.agreement_, self.run_agreement_ = both.representative, both.agreement, both.run_agreement
            out = dict(outs[chosen], clusters=both.labels, local_gates=both.local_gates, global_gates=both.global_gates)
        self._set_module(modules[chosen])
        self.n_features_in_ = table.n_features
        self.feature_names_in_ = np.asarray(table.feature_names, dtype=object)
        self.labels_ = out["clusters"]
        self.local_gates_ = out["local_gates"]
        self.embedding_ = out["embeddings"]
        self.cluster_gates_ = out["global_gates"]
        return self

    def _config(self, table: Table) -> DictConfig:
        from idc.config import compose, group_options

        named = {g: getattr(self, g) for g in CONFIG_GROUPS if g in self._options and isinstance(getattr(self, g), str)}
        for group, option in named.items():
            options = group_options(group)
            if option not in options:
                raise ValueError(f"IDC({group}={option!r}): no such option{did_you_mean(option, options)}; {group} "
                                 f"has {', '.join(options)} (configs/{group}/), or give a dict of its keys")
        # a user's table: its batch size
        cfg = compose(["logger=none", "trainer=cpu", "dataset=table", *(f"{g}={o}" for g, o in named.items())])
        with open_dict(cfg):
            for group in CONFIG_GROUPS:
                if group in self._options and group not in named:
                    cfg[group] = OmegaConf.merge(cfg[group], getattr(self, group))
            cfg.seed = int(self.random_state)
            cfg.model.n_init = self.n_init
            batch = self.batch_size if self.batch_size is not None else cfg.dataset.batch_size
            cfg.dataset = OmegaConf.create({"name": "estimator", "batch_size": int(batch)})
            cfg.trainer.deterministic = self.accelerator == "cpu" or not torch.cuda.is_available()
            cfg.trainer.pop("accelerator", None)
            cfg.trainer.pop("devices", None)
            cfg.checkpoint_every = 10**9  # only the final checkpoint, in a temporary directory
            cfg.pop("hydra", None)
        # as on the command line: a group's option is not a setting given, a schedule other than the default is
        given = [*leaves({g: getattr(self, g) for g in CONFIG_GROUPS if g in self._options and g not in named}),
                 *(["schedule"] if named.get("schedule", "default") != "default" else [])]
        self.size_rule_ = apply_size_rule(validate(cfg), table.n_samples, table.n_features,
                                          {*given, *(["dataset.batch_size"] if self.batch_size is not None else [])})
        return cfg

    # ------------------------------------------------------------------------------------ inference
    def predict(self, X: Any) -> np.ndarray:
        """Cluster of each row of ``X``."""
        return self._predict(X)["clusters"]

    def transform(self, X: Any) -> np.ndarray:
        """Embedding of each row of ``X`` (the encoder's output on the gated input)."""
        return self._predict(X)["embeddings"]

    def local_gates(self, X: Any) -> np.ndarray:
        """Local gates (N x D) of new samples."""
        return self._predict(X)["local_gates"]

    def explain(self, X: Any, top_k: int = 5):
        """Why each sample went where it did: its cluster and its ``top_k`` open features by local gate
        (ties broken by the gated value's magnitude), as a pandas DataFrame with names and values, and
        ``gates_separated``: whether the sample's gates have made a selection at all
        (:func:`idc.metrics.interpretability.gates_separated`; where not, the ranking means little)."""
        import pandas as pd

        Xs = self._transform_input(X)
        out = predict(self.module_, Xs)
        ranked = top_features(out["local_gates"], self.feature_names_in_, top_k, np.abs(Xs * out["local_gates"]))
        rows = []
        for c, feats, separated in zip(out["clusters"], ranked, gates_separated(out["local_gates"])):
            row: dict[str, Any] = {"cluster": int(c), "gates_separated": bool(separated)}
            for i, (name, value) in enumerate(feats, start=1):
                row[f"feature_{i}"], row[f"value_{i}"] = name, value
            rows.append(row)
        return pd.DataFrame(rows, columns=["cluster", *column_names(top_k), "gates_separated"])

    def refit_cluster_gates(self, X: Any, **settings: Any) -> IDC:
        """Refit the cluster gates alone under other ``head.global_gates`` settings, e.g. ``reg_lambda=30`` for
        fewer, more distinct features per cluster (watch their fidelity: :mod:`idc.refit_global_gates`). ``X`` is
        the table the model was fitted on; ``labels_``, the local gates and ``predict`` stay as they were. Seconds,
        not a new fit; sets ``cluster_gates_`` (kept by :meth:`save`) and returns the estimator. With ``n_init > 1``
        they are then the kept run's gates fitted to the consensus ``labels_``, no longer an average over runs."""
        Xs = self._transform_input(X)
        if len(Xs) != len(self.labels_):
            raise ValueError(f"IDC.refit_cluster_gates takes the table IDC was fitted on ({len(self.labels_)} rows), "
                             f"got {len(Xs)} rows")
        batch = self._config(self._table(X, None, fitting=False)).dataset.batch_size  # the fit's, from the same rule
        gates = predict(self.module_, Xs)["local_gates"]
        try:
            refit(self.module_, Xs, gates, self.labels_, batch, int(self.random_state),
                  [f"{PREFIX}{key}={value}" for key, value in settings.items()])
        except ValueError as err:
            raise ValueError(f"IDC.refit_cluster_gates: {err}".replace(PREFIX, "")) from None
        self.cluster_gates_ = self.module_.global_gates.matrix().cpu().numpy()
        return self

    def _predict(self, X: Any) -> dict[str, np.ndarray]:
        Xs = self._transform_input(X)  # first: an unfitted estimator says so
        return predict(self.module_, Xs)

    # ------------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Weights, estimator parameters, model hyperparameters, scaler and feature names in one file that
        :meth:`load` reads with ``torch.load(weights_only=True)``."""
        check_is_fitted(self, "module_")
        path = Path(path)
        payload = {
            "format": FORMAT,
            "params": _plain(self.get_params()),
            "hparams": _plain(dict(self.module_.hparams)),
            "state_dict": {k: v.cpu() for k, v in self.module_.state_dict().items()},
            "preprocessing": self._fitted_.as_dict(),
            "feature_names": [str(n) for n in self.feature_names_in_],
            "labels": torch.as_tensor(self.labels_),
            "cluster_gates": torch.as_tensor(np.asarray(self.cluster_gates_, dtype=np.float32)),  # consensus: averaged
        }
        with replacing(path) as tmp:  # a kill while saving leaves the previous model file whole
            torch.save(payload, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> IDC:
        """An estimator saved by :meth:`save`; nothing in the file can run code (``weights_only=True``)."""
        path = Path(path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DataError(f"{path}: no such model file") from None
        except Exception as err:  # pickles with code, truncated or foreign files
            raise DataError(f"{path}: not a loadable IDC model ({type(err).__name__}: {str(err)[:200]})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise DataError(f"{path}: not an IDC estimator file (format {FORMAT!r} expected)")
        est = cls(**payload["params"])
        module = IDCModule(**payload["hparams"])
        module.load_state_dict(payload["state_dict"])
        est._set_module(module)
        est._fitted_ = Fitted.from_dict(payload["preprocessing"]) if "preprocessing" in payload else _fitted_from_scaler(
            payload.get("scaler"), payload["feature_names"])
        est.feature_names_in_ = np.asarray(payload["feature_names"], dtype=object)
        est.n_features_in_ = len(est.feature_names_in_)
        est.labels_ = payload["labels"].numpy()
        est.cluster_gates_ = (payload["cluster_gates"] if "cluster_gates" in payload
                              else module.global_gates.matrix()).numpy()
        return est

    # ---------------------------------------------------------------------------------- helpers
    def _set_module(self, module: IDCModule) -> None:
        self.module_ = _detached(module)

    def _table(self, X: Any, y: Any, fitting: bool) -> Table:
        k = self.n_clusters
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"IDC(n_clusters={k!r}): n_clusters must be a whole number of at least 1, the number "
                             "of clusters K to find")
        names = [str(c) for c in X.columns] if hasattr(X, "columns") else []
        try:
            arr = check_array(X, dtype=(np.float64, np.float32), ensure_all_finite=False, ensure_min_samples=1)
        except ValueError:
            if hasattr(X, "columns"):  # a DataFrame: name its text columns (check_array quotes only a value)
                import pandas as pd

                text = [str(c) for c in X.columns
                        if (pd.to_numeric(X[c], errors="coerce").isna() & X[c].notna()).any()]
                if text:
                    raise DataError(f"X: non-numeric column(s) {text[:10]}{' ...' if len(text) > 10 else ''}; drop "
                                    "them (X.drop(columns=[...])) or encode them as numbers before fit; labels go to y"
                                    ) from None
            raise
        table = Table(arr, None if y is None else np.asarray(y), names, name="X", n_clusters=int(k))
        table = check_finite(table, advice="fill them before fit (e.g. sklearn.impute.SimpleImputer ahead of IDC "
                                           "in a Pipeline), or drop those rows")
        if fitting:
            check_clusters(table)  # includes the all-constant check
        return table

    def _transform_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "module_")
        table = self._table(X, None, fitting=False)
        if table.n_features != self.n_features_in_:
            raise DataError(
                f"X has {table.n_features} features, but IDC is expecting {self.n_features_in_} features as input."
            )
        if hasattr(X, "columns") and list(table.feature_names) != list(self.feature_names_in_):
            unknown = [n for n in table.feature_names if n not in set(self.feature_names_in_)][:5]
            raise DataError(
                "X's feature names differ from those seen in fit"
                + (f" (unknown: {unknown})" if unknown else " (same names, other order)")
            )
        return np.asarray(self._fitted_.rescale(table.X), dtype=np.float32)


def check_trainer_keywords(names: Iterable[str], own: Sequence[str]) -> None:
    """Keywords of :class:`IDC` other than its own (``own``) must be arguments of :func:`idc.fit.fit`
    (``show_progress``) or of Lightning's ``Trainer``: a ``TypeError`` with the closest of them otherwise
    (``IDC(n_cluster=3)``: did you mean 'n_clusters'?)."""
    from pytorch_lightning import Trainer

    from idc.fit import fit

    accepted = [p for f in (fit, Trainer.__init__) for p, param in inspect.signature(f).parameters.items()
                if param.kind is not inspect.Parameter.VAR_KEYWORD and p not in ("self", "cfg", "table", "run_dir")]
    for name in names:
        if name in SCHEDULE_OWNED:
            raise TypeError(f"IDC({name}=...): the schedule sets how long each stage trains (the Trainer's "
                            f"{name} would stop it early, stage 2 unrun): give IDC(schedule={{'stage1_epochs': ..., "
                            "'stage2_epochs': ...}) or IDC(schedule='quick') (configs/schedule/)")
        if name not in accepted:
            raise TypeError(f"IDC({name}=...): unknown keyword{did_you_mean(name, [*own, *accepted])}; IDC's own are "
                            f"{', '.join(own)} (the last {len(CONFIG_GROUPS)} as dicts of their config group), any "
                            "other must be an argument of Lightning's Trainer")


@contextmanager
def _quiet_lightning():
    """Lightning's start-up chatter (devices, tips) and the libraries' known deprecation messages
    (:func:`idc.console.ignore_known_warnings`) are noise in a notebook; other warnings still show."""
    logger = logging.getLogger("pytorch_lightning")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            ignore_known_warnings()
            yield
    finally:
        logger.setLevel(level)


def _detached(module: IDCModule) -> IDCModule:
    """The trained module without its trainer and stage 2's frozen inputs (as large as the table), on the CPU."""
    module.frozen = None
    module.trainer = None
    if module.dec_target is not None:  # DEC's target over the training rows: plain tensors, not buffers
        module.dec_target.target = module.dec_target._labels = None
    return module.cpu().eval()


def _fit_seed(cfg: DictConfig, table: Table, trainer_kwargs: dict[str, Any]) -> tuple[IDCModule, dict[str, np.ndarray]]:
    """One run of ``cfg`` (its seed) on ``table``: the detached module and its outputs on the table."""
    from idc.fit import fit

    with tempfile.TemporaryDirectory(prefix="idc-fit-") as tmp, _quiet_lightning():
        module, _, _ = fit(cfg, table, Path(tmp), **dict(trainer_kwargs))
    out = predict(module, table.X)  # where it trained (a GPU's)
    return _detached(module), out


def _fitted_from_scaler(state: dict[str, Any] | None, feature_names: list[str]) -> Fitted:
    """The scaling of a model file saved before :class:`Fitted` kept it (a ``StandardScaler`` or ``MinMaxScaler``
    state, or ``None``), as ``X * mul + add``."""
    n = len(feature_names)
    if state is None:
        return Fitted(list(feature_names), np.ones(n), np.zeros(n))
    if state["kind"] == "StandardScaler":
        scale_ = state["scale_"].double().numpy()
        return Fitted(list(feature_names), 1.0 / scale_, -state["mean_"].double().numpy() / scale_)
    return Fitted(list(feature_names), state["scale_"].double().numpy(), state["min_"].double().numpy())


def _plain(value: Any) -> Any:
    """Containers of str/int/float/bool/None only (what ``weights_only=True`` accepts)."""
    if isinstance(value, DictConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
