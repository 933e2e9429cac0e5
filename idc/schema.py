"""The shape of a composed config: every group's keys, their types and the allowed values of every choice, in
one place, checked right after composition (:func:`validate`, called by ``idc.config.compose``, ``idc-train``
and ``IDC.fit``), so that a misspelt key, a value outside its choices, a count below 1 or an impossible schedule
fails in a second, not when first used thousands of epochs later. Code that branches on a choice imports its
allowed values from here (:func:`choices`)."""
from __future__ import annotations

import difflib
import enum
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Dict, List, Optional, get_args, get_origin, get_type_hints

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError


class ConfigError(ValueError):
    """A composed config that cannot run: the message names the key, the value and what is allowed."""


class Choice(str, enum.Enum):
    """A config option's allowed values (member name == value, as written in the YAML files)."""


def _choice(name: str, values: str) -> type[Choice]:
    return Choice(name, [(v, v) for v in values.split()])


ReconLoss = _choice("ReconLoss", "mse l1")                       # model.recon_loss
ReconTask = _choice("ReconTask", "clean gated masked latent")    # model.tasks (a non-empty subset)
BnStats = _choice("BnStats", "stage1 gated_inputs")              # model.bn_stats
Reduction = _choice("Reduction", "mean sum")                     # gates / head.global_gates .reg_reduction
GateKind = _choice("GateKind", "stg hard_concrete none")         # gates.kind (absent: stg; none = gates.enabled false)
HeadKind = _choice("HeadKind", "mcr kmeans dec")                 # head.kind (absent: mcr)
HeadInit = _choice("HeadInit", "random kmeans")                  # head.init
HeadMetric = _choice("HeadMetric", "embedding decoder whitened")  # head.metric
Balance = _choice("Balance", "entropy min_share kmeans_proportions")  # head.balance
LrUntil = _choice("LrUntil", "end freeze")                       # head.lr_until
RestartCriterion = _choice("RestartCriterion", "compression silhouette agreement")  # head.restart_criterion
RegSchedule = _choice("RegSchedule", "constant cosine")          # head.global_gates.reg_schedule
GateOptimizer = _choice("GateOptimizer", "sgd adam")             # head.global_gates.optimizer
GateBaseline = _choice("GateBaseline", "zero permute")           # head.global_gates.baseline
Scaler = _choice("Scaler", "minmax standard tfidf none")         # dataset.scaler
Impute = _choice("Impute", "mean median zero")                   # dataset.impute
DataLoading = _choice("DataLoading", "index per_row")            # data_loading
Objective = _choice("Objective", "silhouette acc nmi ari")       # hparams_search.objective
Direction = _choice("Direction", "maximize minimize")            # hparams_search.direction


def choices(kind: type[Choice]) -> tuple[str, ...]:
    """The allowed values of a choice, in the order of their definition (the first is the usual default)."""
    return tuple(member.value for member in kind)


def count(default: Any = None) -> Any:
    """A field that counts something: a whole number of at least 1 (None where the field is optional)."""
    return field(default=default, metadata={"count": True})


def weight(default: Any = None) -> Any:
    """A loss term's weight or a noise's scale: a number >= 0 (None where the field is optional)."""
    return field(default=default, metadata={"non_negative": True})


@dataclass
class GatesSchema:
    enabled: bool = True
    kind: Optional[GateKind] = None
    hidden_dim: Optional[int] = count()
    init_std: Optional[float] = None
    beta: Optional[float] = None  # hard_concrete: temperature and stretch interval
    gamma: Optional[float] = None
    zeta: Optional[float] = None
    noise_std: Optional[float] = weight()
    reg_sigma: Optional[float] = None
    reg_reduction: Optional[Reduction] = None
    reg_lambda: Optional[float] = weight()
    gtcr_lambda: Optional[float] = weight()
    gtcr_eps: Optional[float] = None
    gtcr_projection_dim: Optional[int] = count()
    gtcr_small_side: Optional[bool] = None
    gtcr_center: Optional[bool] = None
    gtcr_noise: Optional[bool] = None


@dataclass
class GlobalGatesSchema:
    enabled: bool = True
    aux_hidden_dim: int = count(1)
    init_std: float = 0.0
    noise_std: float = weight(0.0)
    reg_sigma: float = 0.0
    reg_reduction: Reduction = Reduction.mean
    reg_lambda: float = weight(0.0)
    reg_schedule: RegSchedule = RegSchedule.constant
    optimizer: GateOptimizer = GateOptimizer.sgd
    lr: float = 0.0
    baseline: GateBaseline = GateBaseline.zero
    train_factor: float = 1.0
    overlap_weight: float = weight(0.0)
    min_cluster_fidelity: float = 0.0


@dataclass
class HeadSchema:
    kind: Optional[HeadKind] = None
    hidden_dim: int = count(1)
    tau: float = 0.0
    eps: float = 0.0
    standardize_inputs: bool = False
    metric: HeadMetric = HeadMetric.embedding
    init: Optional[HeadInit] = None
    init_steps: int = count(1)
    restarts: int = count(1)
    n_init: Optional[int] = count()  # kmeans, dec: k-means++ runs
    alpha: Optional[float] = None  # dec: Student-t degrees of freedom
    target_every: Optional[int] = count()  # dec: steps between target refreshes
    balance_weight: float = weight(0.0)
    balance: Balance = Balance.entropy
    balance_min_share: float = 0.5
    freeze_after_selection: bool = False
    lr_until: LrUntil = LrUntil.end
    restart_criterion: RestartCriterion = RestartCriterion.compression
    global_gates: GlobalGatesSchema = field(default_factory=GlobalGatesSchema)


@dataclass
class LearningRates:
    pretrain: float = 0.0
    clustering: float = 0.0
    aux_classifier: float = 0.0


@dataclass
class MinLearningRates:
    pretrain: float = 0.0
    clustering: float = 0.0


@dataclass
class ModelSchema:
    hidden: List[int] = field(default_factory=list, metadata={"count": True})
    bottleneck: Optional[int] = count()
    bottleneck_min: int = 0
    linear_path: bool = False
    recon_loss: ReconLoss = ReconLoss.mse
    tasks: List[ReconTask] = field(default_factory=list)  # none: the ablation "w/o L_recon"
    mask_rate: float = 0.0
    latent_noise_std: float = weight(0.0)
    weight_decay: float = weight(0.0)
    lr: LearningRates = field(default_factory=LearningRates)
    min_lr: MinLearningRates = field(default_factory=MinLearningRates)
    bn_stats: BnStats = BnStats.stage1
    stage1_checkpoint: Optional[str] = None
    compile: bool = False
    fused_optimizers: bool = True  # torch's fused optimizer steps (idc/module.py optimizer)
    n_init: int = count(1)  # independent runs combined into a consensus (idc/consensus.py)
    n_jobs: int = count(1)  # of the n_init runs, how many train at once (idc/consensus_run.py)
    embedding_clusterer: Optional[Dict[str, Any]] = None  # method=ae_kmeans: K-means on the stage-1 embeddings


@dataclass
class ScheduleSchema:
    """Counts of epochs (the rule: :func:`check_schedule`)."""

    ungated_epochs: int = 0
    stage1_epochs: int = 0
    head_epochs: int = 0
    stage2_epochs: int = 0
    epochs: int = 0
    eval_every: int = count(1)


@dataclass
class MethodSchema:
    name: str = "idc"
    baseline: Optional[Dict[str, Any]] = None  # a scikit-learn style clusterer instead of IDC


@dataclass
class Table7:
    stage1: int = count(1)
    stage2: int = count(1)
    gates_from: int = 0
    global_after: int = count(1)


@dataclass
class DatasetSchema:
    name: str = ""
    files: List[Optional[str]] = field(default_factory=list)  # dataset=table: [null] until dataset.path is set
    n_samples: Optional[int] = count()
    n_features: Optional[int] = count()
    n_clusters: Optional[int] = count()
    scaler: Scaler = Scaler.standard
    batch_size: int = count(1)
    load: Optional[Dict[str, Any]] = None
    log1p: bool = False
    drop_constant: bool = False
    rows: Optional[int] = count()
    table7: Optional[Table7] = None
    # dataset=table: your own file
    path: Optional[str] = None
    label_column: Optional[Any] = None
    y_key: Optional[str] = None
    x_key: Optional[str] = None
    names_key: Optional[str] = None
    drop_columns: Optional[List[Any]] = None
    header: Optional[Any] = None
    sep: Optional[str] = None
    encoding: str = "utf-8"
    feature_columns: Optional[List[Any]] = None
    impute: Optional[Impute] = None
    top_k_variance: Optional[int] = count()
    class_shares: Optional[List[float]] = None  # dataset=synthetic: an unbalanced variant


@dataclass
class SizeRuleSchema:
    """Settings from the table's shape (:mod:`idc.size_rule`)."""

    enabled: Optional[bool] = None
    full_batch_max: int = count(1)
    high_dim_min_features: int = count(1)
    high_dim_settings: str = "hdlss_linear_kmeans"
    gates_reg_lambda: Optional[float] = weight()
    stage1_steps: int = count(1)
    stage2_steps: int = count(1)
    ungated_share: float = 0.05
    head_share: float = 0.25
    min_epochs: int = count(2)
    max_epochs: int = count(1)
    chosen: Dict[str, str] = field(default_factory=dict)


@dataclass
class EvalSchema:
    enabled: bool = True
    plots: bool = True
    top_k: int = count(1)
    max_samples: int = count(1)
    faithfulness_max_features: Optional[int] = None  # null: every open feature (Table 1's protocol); 0: none
    tsne_max: int = 0
    seed: int = 0


@dataclass
class SearchSchema:
    study_name: str = ""
    storage: str = ""
    objective: Objective = Objective.silhouette
    direction: Direction = Direction.maximize
    n_trials: int = count(1)
    sampler_seed: int = 0
    heartbeat_seconds: int = count(1)
    max_retry: int = 0
    params: Dict[str, Any] = field(default_factory=dict)


#: group -> its schema; groups of another library's arguments (trainer, logger) or of Hydra (paths, hydra) are
#: checked by those libraries
GROUPS: dict[str, type] = {
    "dataset": DatasetSchema, "gates": GatesSchema, "head": HeadSchema, "model": ModelSchema,
    "schedule": ScheduleSchema, "method": MethodSchema, "eval": EvalSchema, "size_rule": SizeRuleSchema, "hparams_search": SearchSchema,
}
#: the run-level keys of train.yaml -> (type, what is allowed)
RUN_KEYS = ("task_name", "seed", "progress_bar", "progress_every", "threads", "resume", "skip_done", "checkpoint_every",
            "data_loading")
OPEN_GROUPS = ("trainer", "logger", "paths", "hydra")
#: every key a composed config may hold at its root
ROOT_KEYS = (*RUN_KEYS, *GROUPS, *OPEN_GROUPS)


#: the Trainer's arguments that the schedule sets (``trainer.max_epochs: ${schedule.epochs}``) or that would stop a run
#: before its stages end
SCHEDULE_OWNED = ("max_epochs", "min_epochs", "max_steps", "min_steps", "max_time")
#: what ``trainer.max_epochs`` must be
SCHEDULE_EPOCHS = "${schedule.epochs}"


def check_trainer_length(trainer: DictConfig) -> None:
    """Refuse a ``trainer`` node whose length is not the schedule's: ``max_epochs`` other than
    ``${schedule.epochs}`` (a number, even the same one, stops following the size rule's schedule), or any other of
    :data:`SCHEDULE_OWNED` set."""
    given = OmegaConf.to_container(trainer)  # unresolved: max_epochs must be the interpolation itself
    for key in SCHEDULE_OWNED:
        allowed = (SCHEDULE_EPOCHS,) if key == "max_epochs" else (None, -1)  # the schedule's, or Lightning's "not set"
        if key in given and given[key] not in allowed:
            raise ConfigError(f"trainer.{key}={given[key]}: the schedule sets how long each stage trains "
                              f"(trainer.max_epochs is {SCHEDULE_EPOCHS}; a Trainer limit would end a run before its "
                              "stages do): set schedule.stage1_epochs / schedule.stage2_epochs, or schedule=quick for "
                              "a short run (configs/schedule/)")


def validate(cfg: DictConfig) -> DictConfig:
    """Check ``cfg`` against the schemas and rules of this module; returns ``cfg`` unchanged, or raises
    :class:`ConfigError` naming the key, the value and what is allowed."""
    for key in cfg:
        if key not in ROOT_KEYS:
            raise ConfigError(unknown_key_message(str(key), ROOT_KEYS))
    _check_run_keys(cfg)
    plain: dict[str, Any] = {}
    for group, schema in GROUPS.items():
        if cfg.get(group) is None:
            continue
        plain[group] = _resolved(cfg, group)
        _check_against(group, plain[group], schema)
        _check_counts(group, plain[group], schema)
    if "gates" in plain:
        check_gates(plain["gates"])
    if "head" in plain:
        check_head(plain["head"])
    if "schedule" in plain:
        stage1_only = bool((plain.get("model") or {}).get("embedding_clusterer"))
        check_schedule(plain["schedule"], stage1_only)
    if plain.get("size_rule"):
        check_size_rule(plain["size_rule"])
    check_parallel_runs(int((plain.get("model") or {}).get("n_jobs") or 1), cfg.get("trainer") or {})
    if isinstance(cfg.get("trainer"), DictConfig):
        check_trainer_length(cfg.trainer)
    return cfg


def is_float_key(key: str) -> bool:
    """Whether the dotted ``key`` (``gates.reg_lambda``) is a float of a group schema, so that ``1`` and ``1.0`` given
    for it are one value (a key of an open group, such as ``trainer.limit_train_batches``, is not: Lightning reads
    ``1`` as one batch and ``1.0`` as all of them)."""
    group, *path = _path(key)
    return group in GROUPS and bool(path) and _type_at(GROUPS[group], path) is float


def check_parallel_runs(n_jobs: int, trainer: Any) -> None:
    """``model.n_jobs`` > 1 trains the ``model.n_init`` runs in worker processes on one device each: refused with
    several devices, machines or a DDP strategy (each run would start its own group of processes)."""
    if n_jobs <= 1:
        return
    strategy, devices, nodes = (str(trainer.get(k, d)) for k, d in (("strategy", "auto"), ("devices", 1),
                                                                     ("num_nodes", 1)))
    if "ddp" in strategy or devices != "1" or nodes != "1":
        raise ConfigError(f"model.n_jobs={n_jobs} trains the model.n_init runs in worker processes on one device "
                          f"each, not with trainer.strategy={strategy} trainer.devices={devices} trainer.num_nodes="
                          f"{nodes}: set model.n_jobs=1 (the runs then train one after another, each on every "
                          "device) or trainer.devices=1")


def check_gates(gates: dict[str, Any]) -> None:
    """``gates.kind: none`` (no gate network) goes with ``gates.enabled: false``, the ``gates=none`` choice."""
    if gates.get("kind") == GateKind.none.value and gates.get("enabled", True):
        raise ConfigError("gates.kind: 'none' with gates.enabled=true; choose gates=none (enabled: false) for IDC "
                          "without local gates, or gates.kind=stg / hard_concrete")


def check_head(head: dict[str, Any]) -> None:
    """Restarts and the k-means start belong to the trained ``mcr`` head: ``head=kmeans`` is k-means itself (its
    restarts are ``head.n_init``) and ``head=dec`` always starts at k-means, so both refuse them."""
    kind = head.get("kind") or HeadKind.mcr.value
    if kind == HeadKind.mcr.value:
        return
    if int(head.get("restarts") or 1) != 1:
        raise ConfigError(f"head.restarts: {head['restarts']!r} is not allowed with head={kind} (restarts are "
                          f"heads of head=mcr trained side by side); set head.restarts=1 and use head.n_init for "
                          "the k-means runs")
    if head.get("init") is not None:
        raise ConfigError(f"head.init: {head['init']!r} is not allowed with head={kind} (the k-means start of "
                          f"head=mcr; head={kind} {'is k-means' if kind == 'kmeans' else 'always starts at k-means'}); "
                          "leave head.init=null")


def check_size_rule(rule: dict[str, Any]) -> None:
    """The size rule's shares lie in (0, 1] and its epoch range is not empty (its sparsity weight is a
    :func:`weight`)."""
    for key in ("ungated_share", "head_share"):
        if not 0 < float(rule[key]) <= 1:
            raise ConfigError(f"size_rule.{key}: {rule[key]!r} is not allowed; a share in (0, 1]")
    if int(rule["min_epochs"]) > int(rule["max_epochs"]):
        raise ConfigError(f"size_rule.min_epochs ({rule['min_epochs']}) must be <= size_rule.max_epochs "
                          f"({rule['max_epochs']})")


def check_schedule(s: dict[str, Any], stage1_only: bool = False) -> None:
    """The schedule rule: ``0 <= ungated_epochs < stage1_epochs``, ``1 <= head_epochs <= stage2_epochs`` (equal:
    no global-gate epochs), ``stage2_epochs >= 2`` and ``epochs = stage1_epochs + stage2_epochs``; a stage-1-only
    run (``method=ae_kmeans``) has ``head_epochs = stage2_epochs = 0``."""
    u, s1, h, s2, total = (int(s[k]) for k in ("ungated_epochs", "stage1_epochs", "head_epochs", "stage2_epochs", "epochs"))
    got = f"got ungated_epochs={u}, stage1_epochs={s1}, head_epochs={h}, stage2_epochs={s2}"
    if not 0 <= u < s1:
        raise ConfigError(f"schedule.ungated_epochs must be >= 0 and < schedule.stage1_epochs (the gates switch on "
                          f"inside stage 1); {got}")
    if stage1_only and h == s2 == 0:
        pass
    elif not (s2 >= 2 and 1 <= h <= s2):
        raise ConfigError("schedule needs stage2_epochs >= 2 and 1 <= head_epochs <= stage2_epochs (the head trains "
                          "before it is chosen and before the global gates start); " + got)
    if total != s1 + s2:
        raise ConfigError(f"schedule.epochs must be stage1_epochs + stage2_epochs = {s1 + s2}, got {total}")


# ------------------------------------------------------------------------------------------------- helpers
def _resolved(cfg: DictConfig, group: str) -> Any:
    try:
        return OmegaConf.to_container(cfg[group], resolve=True)
    except OmegaConfBaseException as err:
        key = err.full_key or group if err.full_key.startswith(group) else f"{group}.{err.full_key}"
        hint = ""
        if "table7" in str(err):
            hint = (f" (schedule=paper reads dataset.table7, which dataset {cfg.dataset.get('name')!r} does not have; "
                    "choose schedule=default, short or quick, or add a table7 node to the dataset's config)")
        raise ConfigError(f"{key}: cannot be resolved: {_first_line(err)}{hint}") from None


def _check_run_keys(cfg: DictConfig) -> None:
    seed = cfg.get("seed")  # checked first: other keys interpolate it (eval.seed)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed: {seed!r} is not allowed; a whole number >= 0")
    if "data_loading" in cfg and cfg.data_loading not in choices(DataLoading):
        raise ConfigError(f"data_loading: {cfg.data_loading!r} is not allowed; allowed: {', '.join(choices(DataLoading))}")
    if "progress_bar" in cfg and cfg.progress_bar not in ("auto", True, False):
        raise ConfigError(f"progress_bar: {cfg.progress_bar!r} is not allowed; allowed: auto, true, false")
    if "checkpoint_every" in cfg and not _is_count(cfg.checkpoint_every):
        raise ConfigError(f"checkpoint_every: {cfg.checkpoint_every!r} is not allowed; a whole number >= 1")
    for key in ("threads", "progress_every"):  # null: chosen at run time
        if cfg.get(key) is not None and not _is_count(cfg[key]):
            raise ConfigError(f"{key}: {cfg[key]!r} is not allowed; null or a whole number >= 1")


@functools.cache
def _structured(schema: type) -> DictConfig:
    """``OmegaConf.structured(schema)``, built once per schema (a fifth of each ``validate`` otherwise)."""
    return OmegaConf.structured(schema)


def _check_against(group: str, value: Any, schema: type) -> None:
    """OmegaConf's own check of a structured config: unknown keys, types and Enum choices."""
    if not isinstance(value, dict):
        raise ConfigError(f"{group}: a mapping of {schema.__name__} keys expected, got {value!r}")
    try:
        OmegaConf.merge(_structured(schema), value)  # merge copies the schema: the cached one stays as it is
    except ConfigKeyError as err:
        node, _, key = f"{group}.{err.full_key}".rpartition(".")
        raise ConfigError(unknown_key_message(f"{node}.{key}", keys_at(schema, node.split(".")[1:]))) from None
    except ValidationError as err:
        key, path = f"{group}.{err.full_key}", _path(err.full_key)
        kind = _type_at(schema, path)
        if isinstance(kind, type) and issubclass(kind, Choice):
            got = _get(value, path)
            raise ConfigError(f"{key}: {got!r} is not allowed; allowed: {', '.join(choices(kind))}") from None
        if _is_count_field(schema, path):
            raise ConfigError(_not_a_count(key, _get(value, path))) from None
        raise ConfigError(f"{key}: {_first_line(err)}") from None


def _check_counts(prefix: str, value: Any, schema: type) -> None:
    """Fields marked as counts are whole numbers >= 1 (each item of a list of counts), weights numbers >= 0;
    ``non_empty`` lists have an item."""
    hints = get_type_hints(schema)
    for f in fields(schema):
        if f.name not in value or value[f.name] is None:
            continue
        got, key = value[f.name], f"{prefix}.{f.name}"
        if f.metadata.get("count"):
            for item in got if isinstance(got, list) else [got]:
                if not _is_count(item):
                    raise ConfigError(_not_a_count(key, got))
        if f.metadata.get("non_negative") and not _is_weight(got):
            raise ConfigError(f"{key}: {got!r} is not allowed; a finite number >= 0 (a weight or a scale)")
        if f.metadata.get("non_empty") and not got:
            raise ConfigError(f"{key}: {got!r} is not allowed; at least one item")
        inner = _strip_optional(hints[f.name])
        if is_dataclass(inner) and isinstance(got, dict):
            _check_counts(key, got, inner)


def _not_a_count(key: str, got: Any) -> str:
    return f"{key}: {got!r} is not allowed; a whole number >= 1 (a count)"


def _is_count_field(schema: type, path: list[str]) -> bool:
    """The field at ``path`` (an item of a list: the list's field) is marked as a count."""
    names = [name for name in path if not name.isdigit()]
    parent = _type_at(schema, names[:-1]) if names else None
    if not is_dataclass(parent):
        return False
    return any(f.name == names[-1] and f.metadata.get("count") for f in fields(parent))


def _is_weight(value: Any) -> bool:
    """A finite number >= 0, or a string of one (``${oc.env:LAMBDA}``: OmegaConf converts it for a float field)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool) and math.isfinite(number) and number >= 0


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _strip_optional(kind: Any) -> Any:
    args = [a for a in get_args(kind) if a is not type(None)]
    return args[0] if get_origin(kind) is not None and len(args) == 1 and get_origin(kind) is not list else kind


def _first_line(err: Exception) -> str:
    return str(getattr(err, "msg", None) or err).splitlines()[0]


def _path(full_key: str) -> list[str]:
    """``lr.pretrain`` -> ``[lr, pretrain]``; ``tasks[1]`` -> ``[tasks, 1]``."""
    return [part for part in full_key.replace("[", ".").replace("]", "").split(".") if part]


def _type_at(schema: type, path: list[str]) -> Any:
    kind: Any = schema
    for name in path:
        if name.isdigit():  # an item of a list: its type is already the list's item type
            continue
        if not is_dataclass(kind):
            return None
        kind = _strip_optional(get_type_hints(kind).get(name))
        if get_origin(kind) is list:  # a list of choices: the item's type
            kind = get_args(kind)[0]
    return kind


def keys_at(schema: type, path: list[str]) -> tuple[str, ...]:
    """The field names of the dataclass at ``path`` in ``schema`` (none where it is not a dataclass)."""
    kind = _type_at(schema, path) if path else schema
    return tuple(f.name for f in fields(kind)) if is_dataclass(kind) else ()


def _get(value: Any, path: list[str]) -> Any:
    for name in path:
        value = value[int(name)] if isinstance(value, list) else value.get(name)
    return value


def did_you_mean(name: str, allowed: Sequence[str]) -> str:
    """`` (did you mean 'X'?)`` with the closest of ``allowed`` to ``name``, or nothing where none is close."""
    close = difflib.get_close_matches(name, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_key_message(key: str, allowed: Sequence[str]) -> str:
    """``KEY: unknown key (did you mean 'X'?); NODE has: ...``."""
    where = key.rpartition(".")[0] or "the root config"
    return f"{key}: unknown key{did_you_mean(key.rpartition('.')[2], allowed)}; {where} has: {', '.join(allowed)}"
