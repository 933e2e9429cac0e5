"""Stage 2 around the training steps: its start from another run's stage 1, its frozen inputs, the head's k-means start, restarts and their label-free
selection, the balance prior's weight and the global gates' losses (paper Sec. 4.3; starts, restarts and the
balance prior are robust IDC, not in the paper).

* Frozen inputs: stage 2 trains only the head and the global gates, so the embeddings of gated inputs are
  computed once, in evaluation mode (the official code's frozen encoder stays in training mode, so its BatchNorm
  statistics drift; ``model.bn_stats=gated_inputs`` recomputes them on the gated inputs once instead).
* ``head=kmeans`` / ``head=dec``: the head's centroids are placed by k-means++ on the frozen inputs
  (:func:`fit_centroid_heads`).
* ``kmeans`` start of ``head=mcr``: each head is first fitted, by cross-entropy, to a k-means++ partition of the frozen embeddings.
* Restarts: several heads train side by side; one is kept by a label-free criterion, lowest first: the compression
  loss of its hard partition (Eq. 6, with the balance term), minus the silhouette of the embedding, or minus its
  mean ARI with the other restarts (agreement).
"""
from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score
from torch import Tensor, nn

from idc import losses, schema
from idc.metrics import silhouette
from idc.nn.gates import noisy_gates
from idc.nn.heads import fit_kmeans
from idc.nn.init import evaluation_mode
from idc.schema import Balance, choices
from idc.signals import Interrupted

log = logging.getLogger(__name__)

CRITERIA = choices(schema.RestartCriterion)
CHUNK = 4096  # rows per forward pass over the whole table
STAGE1_PARTS = ("autoencoder", "gating", "gtcr_projection")  # what stage 1 trains (plus its fixed projection)
CHOICES = (  # (group, key, choices) of the stage-2 options: each option's first choice is its default
    ("head", "restart_criterion", choices(schema.RestartCriterion)), ("head", "init", choices(schema.HeadInit)),
    ("head", "lr_until", choices(schema.LrUntil)), ("head.global_gates", "optimizer", choices(schema.GateOptimizer)),
    ("head.global_gates", "baseline", choices(schema.GateBaseline)), ("model", "bn_stats", choices(schema.BnStats)),
    ("head", "kind", choices(schema.HeadKind)), ("head", "metric", choices(schema.HeadMetric)),
)


#: head.metric -> why it needs a centroid head on unstandardised embeddings (and, for decoder, a linear decoder)
METRIC_NEEDS = {
    "decoder": "head.metric=decoder measures k-means' distances between a linear decoder's reconstructions of the "
               "embeddings: it needs head=kmeans or head=dec, model.hidden=[] (a linear autoencoder) and "
               "head.standardize_inputs=false (size_rule.high_dim_settings=hdlss_linear_kmeans_wide sets all of "
               "them unless you give a head or model.hidden setting)",
    "whitened": "head.metric=whitened gives k-means the embeddings' whitened principal directions: it needs "
                "head=kmeans or head=dec (the coding-rate head's loss, start and criterion see the raw embeddings) "
                "and head.standardize_inputs=false (it centres and scales them itself)",
}


def check_options(head: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """Refuse a stage-2 option outside its choices (unset: its default), fewer than one head, restarts and a
    k-means start where the head has none (:func:`idc.schema.check_head`), or a head metric other than for the
    k-means or DEC head on unstandardised embeddings (the decoder's also on a linear decoder's code,
    :data:`METRIC_NEEDS`), naming the key and the choices."""
    groups = {"head": head, "head.global_gates": head["global_gates"], "model": model}
    for where, key, allowed in CHOICES:
        if groups[where].get(key) is not None and groups[where][key] not in allowed:
            raise ValueError(f"{where}.{key} must be one of {allowed}, got {groups[where].get(key)!r}")
    if int(head.get("restarts", 1)) < 1:
        raise ValueError(f"head.restarts must be >= 1, got {head.get('restarts')}")
    if float(head["global_gates"].get("train_factor", 1.0)) < 1:
        raise ValueError("head.global_gates.train_factor must be >= 1 (times the steps of the global gates' phase), "
                         f"got {head['global_gates'].get('train_factor')}")
    floor = float(head["global_gates"].get("min_cluster_fidelity", 0.0))
    if not 0 <= floor <= 1:
        raise ValueError(f"head.global_gates.min_cluster_fidelity must be in [0, 1] (0: off), "
                         f"got {head['global_gates'].get('min_cluster_fidelity')}")
    metric = head.get("metric")
    if metric in METRIC_NEEDS and (head.get("standardize_inputs") or head.get("kind") not in ("kmeans", "dec")
                                   or (metric == "decoder" and model.get("hidden"))):
        raise ValueError(METRIC_NEEDS[metric])
    schema.check_head(dict(head))


def load_stage1(module: nn.Module, path: str | Path) -> None:
    """Give ``module`` the autoencoder and gating network of another run's stage-1 checkpoint (read with
    ``weights_only=True``); stage 1 is then skipped, so stage-2 settings can be swept on one stage 1."""
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    mine = {k: v for k, v in module.state_dict().items() if k.split(".")[0] in STAGE1_PARTS}
    theirs = {k: v for k, v in state.items() if k.split(".")[0] in STAGE1_PARTS}
    if mine.keys() != theirs.keys() or any(mine[k].shape != theirs[k].shape for k in mine):
        raise ValueError(f"{path}: its autoencoder / gating network do not match this model (other table, gates "
                         "or model.hidden / model.bottleneck / model.bottleneck_min); train stage 1 again or use the "
                         "same settings")
    module.load_state_dict(theirs, strict=False)
    module.stage1_loaded = True


@dataclass
class FrozenInputs:
    """Stage 2's fixed inputs: embeddings of gated inputs (for the compression loss), the head's inputs, and the
    gated inputs (for the auxiliary classifier); plus values computed from them once."""

    embeddings: Tensor
    head_inputs: Tensor
    gated: Tensor
    rate: float | None = None  # compression loss of all embeddings as one cluster: the balance prior's unit
    partition: Tensor | None = None  # the frozen selected head's partition
    shares: Tensor | None = None  # head.balance=kmeans_proportions: the k-means partition's cluster shares
    _host: np.ndarray | None = None

    def host_embeddings(self) -> np.ndarray:
        """The embeddings on the host (copied once: they are fixed through stage 2)."""
        if self._host is None:
            self._host = self.embeddings.float().cpu().numpy()
        return self._host


@torch.no_grad()
def refresh_batchnorm_statistics(module: nn.Module, X: Tensor) -> None:
    """``model.bn_stats=gated_inputs``: recompute the encoder's BatchNorm statistics on the gated inputs
    ``x * z`` alone (averages over the table), instead of the running averages of stage 1's clean, gated and
    masked passes; what the official code's encoder, left in training mode, normalises full batches with."""
    encoder = module.autoencoder.encoder
    norms = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass over the table gives its statistics
    was_training = encoder.training
    with evaluation_mode(module.gating):
        encoder.train()
        for x in torch.tensor_split(X, -(-len(X) // CHUNK)):  # even chunks: none of 1 row
            encoder(x * module.local_gates(x))
    encoder.train(was_training)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


@torch.no_grad()
def freeze_inputs(module: nn.Module, X: Tensor) -> FrozenInputs:
    """Stage 2's inputs from the whole table ``X`` (on the module's device), in evaluation mode; warns when
    stage 1 closed almost every gate."""
    if module.model_cfg.get("bn_stats", "stage1") == "gated_inputs":
        refresh_batchnorm_statistics(module, X)
    embs, gated, n_open = [], [], []
    with evaluation_mode(module.gating, module.autoencoder):
        for x in X.split(CHUNK):
            z = module.local_gates(x)
            n_open.append((z > 0).sum(1))
            gated.append(x * z)
            embs.append(module.autoencoder.encoder(gated[-1]))
    median_open = float(torch.cat(n_open).float().median())
    if module.gating is not None and median_open < 2:
        log.warning(
            "stage 1 left a median of %g of %d features open per sample: the clustering sees almost nothing. "
            "Lower the sparsity pressure (gates.reg_lambda, e.g. 0.1) or lengthen stage 1.", median_open, X.shape[1])
    return set_frozen(module, torch.cat(embs), torch.cat(gated))


@torch.no_grad()
def whitening(embeddings: Tensor, dims: int) -> Tensor:
    """``M`` (b x b) such that ``(e - mean) M`` has, over ``embeddings`` (N x b), unit variance along their top
    ``dims`` principal directions and nothing along the others: k-means then sees the whitened principal
    subspace, the continuous solution of its own K-1 cluster indicators (Ding & He, ICML 2004), with every
    between-cluster direction weighted alike. ``head.metric=whitened``; not in the paper."""
    wide = embeddings.double()
    _, s, vh = torch.linalg.svd(wide - wide.mean(0), full_matrices=False)
    # directions below the rounding of the embeddings' own dtype are not directions (matrix_rank's tolerance)
    keep = min(dims, int((s > s[0] * max(embeddings.shape) * torch.finfo(embeddings.dtype).eps).sum()))
    v = vh[:keep].T
    scale = (len(embeddings) - 1) ** 0.5 / s[:keep]
    return ((v * scale) @ v.T).to(embeddings.dtype)


@torch.no_grad()
def set_frozen(module: nn.Module, embeddings: Tensor, gated: Tensor) -> FrozenInputs:
    """Stage-2 inputs from given embeddings and gated inputs; with ``head.metric=whitened`` (:func:`whitening`) or
    ``head.standardize_inputs`` the head's statistics are set from the embeddings first."""
    if module.head_map is not None:
        module.head_shift.copy_(embeddings.mean(0))
        module.head_map.copy_(whitening(embeddings, module.n_clusters - 1))
    elif module.head_cfg.get("standardize_inputs", False):
        module.head_shift.copy_(embeddings.mean(0))
        module.head_scale.copy_(embeddings.std(0).clamp_min(torch.finfo(embeddings.dtype).tiny))
    module.frozen = FrozenInputs(embeddings, module.head_input(embeddings), gated)
    return module.frozen


@torch.no_grad()
def partitions(module: nn.Module, heads: Sequence[nn.Module]) -> list[Tensor]:
    """Each head's evaluation-mode hard partition of the frozen embeddings."""
    inputs = module.frozen.head_inputs
    with evaluation_mode(*heads):
        return [torch.cat([h(x).argmax(1) for x in inputs.split(CHUNK)]) for h in heads]


def frozen_partition(module: nn.Module) -> Tensor:
    """The selected head's partition of the frozen embeddings (computed once: neither changes once frozen)."""
    if module.frozen.partition is None:
        module.frozen.partition = partitions(module, [module.cluster_head])[0]
    return module.frozen.partition


def fit_head_to_partition(
    head: nn.Module, embeddings: Tensor, partition: np.ndarray, steps: int = 200, lr: float = 1e-2,
    batch_size: int = 512, seed: int = 0,
) -> float:
    """Fit ``head`` (in training mode) to reproduce ``partition`` by cross-entropy (Adam, seeded minibatches) and
    return the share of rows whose evaluation-mode argmax equals the partition."""
    target = torch.as_tensor(partition, dtype=torch.long, device=embeddings.device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    n = len(embeddings)
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randperm(n, generator=gen)[: min(batch_size, n)].to(embeddings.device)
            loss = F.cross_entropy(head(embeddings[idx]), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad(), evaluation_mode(head):
        return (head(embeddings).argmax(1) == target).float().mean().item()


def init_heads_from_kmeans(module: nn.Module) -> list[float]:
    """Fit each head to its own k-means++ partition (seed + restart index) of the frozen embeddings; the
    agreements are recorded in ``module.head_selection``."""
    frozen, steps = module.frozen, int(module.head_cfg.get("init_steps", 200))
    agreement = [
        fit_head_to_partition(head, frozen.head_inputs, fit_kmeans(frozen.embeddings, module.n_clusters,
                              seed=module.seed + r).labels_, steps=steps, seed=module.seed + r)
        for r, head in enumerate(module.cluster_heads)
    ]
    module.head_selection["kmeans_init_agreement"] = agreement
    return agreement


def fit_centroid_heads(module: nn.Module) -> None:
    """``head=kmeans`` and ``head=dec``: place the head's centroids by k-means++ (``head.n_init`` seeded runs, the
    best inertia kept) on what the head sees, the frozen stage-2 inputs (restart ``r`` seeded ``seed + r``)."""
    n_init = int(module.head_cfg.get("n_init") or 1)
    for r, head in enumerate(module.cluster_heads):
        head.fit(module.frozen.head_inputs, seed=module.seed + r, n_init=n_init)
    module.frozen.partition = None  # recomputed from the new centroids


def criterion_values(
    name: str, embeddings: Tensor, partitions: list[Tensor], n_clusters: int, eps: float, seed: int = 0,
    balance: float = 0.0, prior: Callable[[Tensor], Tensor] = losses.assignment_imbalance,
) -> list[float]:
    """One label-free score per restart (lower is better) for the hard ``partitions`` of ``embeddings``; the
    compression criterion is the head's training objective (with its ``balance`` term) on the hard partition."""
    if name == "compression":
        onehots = [F.one_hot(p, n_clusters).to(embeddings.dtype) for p in partitions]
        return [
            float(losses.cluster_compression_loss(embeddings, q, eps) + balance * prior(q))
            for q in onehots
        ]
    hard = [p.cpu().numpy() for p in partitions]
    if name == "silhouette":
        x = embeddings.float().cpu().numpy()
        return [-silhouette(x, p, seed=seed, undefined=-1.0) for p in hard]  # one cluster only: the worst score
    if name == "agreement":
        if len(hard) == 1:
            return [0.0]
        return [
            -float(np.mean([adjusted_rand_score(p, q) for j, q in enumerate(hard) if j != i]))
            for i, p in enumerate(hard)
        ]
    raise ValueError(f"head.restart_criterion must be one of {CRITERIA}, got {name!r}")


@torch.no_grad()
def select_head(module: nn.Module) -> int:
    """Keep the restart with the lowest label-free criterion (evaluation-mode partitions of the frozen
    embeddings) and record the criterion's values in ``module.head_selection`` (written to metrics.json)."""
    chosen = 0
    if len(module.cluster_heads) > 1:  # one head: nothing to choose, nothing recorded
        parts = partitions(module, module.cluster_heads)
        name = module.head_cfg.get("restart_criterion", "compression")
        values = criterion_values(name, module.frozen.embeddings, parts, module.n_clusters,
                                  float(module.head_cfg["eps"]), module.seed, balance=balance_weight(module),
                                  prior=lambda q: balance_term(module, q))
        chosen = int(np.argmin(values))
        module.head_selection.update(criterion=name, values=values, chosen=chosen, epoch=int(module.current_epoch),
                                     clusters_used=[int(p.unique().numel()) for p in parts])
    module.selected_head.fill_(chosen)
    module._selected = chosen
    return chosen


def balance_weight(module: nn.Module) -> float:
    """Weight of the balance prior: ``head.balance_weight`` times the coding rate of all frozen embeddings as one
    cluster (the compression loss of the trivial partition), so that the prior has the same strength against
    the compression loss whatever the bottleneck, eps or sample count (not in the paper)."""
    weight = float(module.head_cfg.get("balance_weight", 0.0))
    if not weight:
        return 0.0
    frozen = module.frozen
    if frozen.rate is None:
        one = torch.ones(len(frozen.embeddings), 1, dtype=frozen.embeddings.dtype, device=frozen.embeddings.device)
        frozen.rate = float(losses.cluster_compression_loss(frozen.embeddings, one, float(module.head_cfg["eps"])))
        module.head_selection["balance_scale"] = frozen.rate
    return weight * frozen.rate


def global_gate_losses(module: nn.Module, gated: Tensor, pseudo: Tensor) -> tuple[Tensor, Tensor]:
    """Auxiliary classifier's cross-entropy against the pseudo-labels ``y`` and the global gates' regulariser
    (paper Sec. 4.3; the total is ``ce + weight * reg``); ``head.global_gates.overlap_weight`` adds that many
    times the features that the batch's clusters share to ``reg`` (:func:`idc.losses.gate_overlap`; logged with
    it as ``global_gate_reg``).

    The classifier sees ``x * z * z^G[y]`` (``baseline: zero``, paper). Because ``z^G`` is picked by the label
    itself, which features are zeroed can tell the classes apart on its own (the "encoding" problem of
    selector-predictor explanations, Jethani et al., AISTATS 2021). ``baseline: permute`` fills a closed feature
    with the same feature of another sample of the batch, ``x*z*z^G + x'*z'*(1 - z^G)``: a closed feature then
    follows the feature's marginal in every cluster, so only informative features stay open.
    """
    gg = module.head_cfg["global_gates"]
    mu_g = module.global_gates.mu(pseudo)
    z_g = noisy_gates(mu_g, float(gg["noise_std"]))
    ce = F.cross_entropy(module.aux_classifier(aux_inputs(gated, z_g, gg.get("baseline", "zero"))), pseudo)
    reg = losses.gate_regulariser(mu_g, float(gg["reg_sigma"]), gg["reg_reduction"])
    overlap = float(gg.get("overlap_weight", 0.0))
    if overlap > 0:  # + overlap * the features clusters share (losses.gate_overlap; not in the paper)
        shares = torch.bincount(pseudo, minlength=module.n_clusters) / len(pseudo)
        reg = reg + overlap * losses.gate_overlap(module.global_gates.mu(), shares,
                                                  float(gg["reg_sigma"]), gg["reg_reduction"])
    return ce, reg


def train_global_gates(module: nn.Module, gated: Tensor, clusters: Tensor, batch: int, steps: int,
                       optimizer: torch.optim.Optimizer, generator: torch.Generator,
                       weight_of_step: Callable[[int], float],
                       watch: Callable[[dict[str, Tensor]], None] | None = None) -> None:
    """``steps`` optimizer steps of the global gates and the auxiliary classifier alone, towards the fixed
    ``clusters`` of the gated rows ``gated``: batches of ``batch`` shuffled rows (each pass over the table drops its
    last partial batch, as the DataModule does), loss ``ce + weight_of_step(i) * reg`` (:func:`global_gate_losses`);
    ``watch`` sees each step's terms (the module's NaN guard)."""
    n = len(gated)
    per_pass = max(n // batch, 1)
    done = 0
    with torch.enable_grad():
        while done < steps:
            order = torch.randperm(n, generator=generator)[: per_pass * batch].to(gated.device)  # one copy per pass
            for rows in order.split(batch)[: steps - done]:
                ce, reg = global_gate_losses(module, gated[rows], clusters[rows])
                if watch is not None:
                    watch({"aux_ce": ce, "global_gate_reg": reg})
                optimizer.zero_grad(set_to_none=True)
                (ce + weight_of_step(done) * reg).backward()
                optimizer.step()
                done += 1


def extend_global_gates(module: nn.Module) -> int:
    """After the last epoch: the global gates train on alone for ``(head.global_gates.train_factor - 1)`` times the
    steps of their phase, at the last epoch's weight, with their own optimizer (its state carried on), towards the
    kept head's partition of the whole table (in a DDP run every process trains them so, a batch per process in
    each step, then takes rank 0's: :func:`share_rank_zero`). Their phase in the schedule is short for them to settle; the head is frozen by then,
    so no cluster changes. Each step's terms go to the module's NaN guard; a SIGTERM stops them at the next step,
    before the epoch's checkpoint. Not in the paper. Returns the number of steps taken."""
    gg = module.head_cfg["global_gates"]
    trainer = module.trainer
    steps = round((float(gg.get("train_factor", 1.0)) - 1.0) * global_gate_phase_steps(module))
    if steps <= 0:
        return 0
    frozen = module.frozen
    weight = module.schedule.global_reg_weight(trained_epochs(module) - 1, float(gg["reg_lambda"]),
                                               gg.get("reg_schedule", "constant"))
    optimizer = module.optimizers()[-1].optimizer  # the aux classifier's and global gates' (Lightning's wrapper off)
    generator = torch.Generator().manual_seed(module.seed)
    if trainer.is_global_zero:
        log.info("global gates: %d more steps after the last epoch (head.global_gates.train_factor %g)", steps,
                 float(gg["train_factor"]))
    batch = int(trainer.datamodule.batch_size) * trainer.world_size  # a DDP step's rows: a batch per process
    train_global_gates(module, frozen.gated, frozen_partition(module), batch, steps, optimizer, generator,
                       lambda step: weight, after_last_epoch_watch(module))
    share_rank_zero(global_gate_tensors(module))
    return steps


def trained_epochs(module: nn.Module) -> int:
    """The epochs of this training: the schedule's, or the Trainer's where it was told to stop earlier."""
    return min(int(module.trainer.max_epochs), module.schedule.epochs)


def global_gate_phase_steps(module: nn.Module) -> int:
    """The optimizer steps of the global gates' phase in this training: its epochs (up to
    :func:`trained_epochs`) times the steps of an epoch."""
    return (trained_epochs(module) - module.schedule.global_gates_start) * int(module.trainer.num_training_batches)


def nonfinite_terms(terms: dict[str, Tensor]) -> Tensor:
    """One flag per loss term of ``terms``, on the device (no host sync): whether it holds a NaN or an infinity."""
    return torch.stack([~torch.isfinite(t.detach()).all() for t in terms.values()])


def global_gate_tensors(module: nn.Module) -> list[Tensor]:
    """The global gates' and the auxiliary classifier's parameters and buffers (its batch norm's running
    statistics, which its evaluation-mode fidelity reads)."""
    return [*module.global_gates.parameters(), *module.aux_classifier.parameters(), *module.aux_classifier.buffers()]


def after_last_epoch_watch(module: nn.Module, nan_guard: bool = True) -> Callable[[dict[str, Tensor]], None]:
    """What sees each step of the global gates after the last epoch: the module's NaN guard (unless ``nan_guard``
    is false: the overlap guard's refits, which leave a fit that went NaN out), and a SIGTERM, which stops them at
    once in a single process (the last epoch's checkpoint is not written: the command replays it; under DDP the
    stop waits for the steps' end: a rank leaving alone would hang the others' broadcast)."""
    trainer = module.trainer

    def watch(terms: dict[str, Tensor]) -> None:
        if nan_guard:
            module._watch("global gates after the last epoch", terms)
        if trainer.received_sigterm and trainer.world_size == 1:
            raise Interrupted(signal.SIGTERM)

    return watch


def share_rank_zero(params: list[Tensor]) -> None:
    """Every process of a distributed run takes rank 0's values of ``params``, parameters or buffers (after steps
    taken outside DDP's gradient averaging, whose processes' gate noise differs); nothing without a process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        for param in params:
            torch.distributed.broadcast(param.data, src=0)


def aux_inputs(gated: Tensor, z_g: Tensor, baseline: str, generator: torch.Generator | None = None) -> Tensor:
    """What the auxiliary classifier sees: ``x * z * z^G`` (``zero``), plus ``x' * z' * (1 - z^G)`` with ``x'``
    another sample of the batch (``permute``; :func:`global_gate_losses`)."""
    inputs = gated * z_g
    if baseline == "permute":
        perm = torch.randperm(len(gated), device=gated.device, generator=generator)
        inputs = inputs + gated[perm] * (1.0 - z_g)
    return inputs


@torch.no_grad()
def global_gate_fidelity(module: nn.Module, gated: Tensor, clusters: Tensor, seed: int = 0) -> dict[str, float]:
    """How well each cluster is recognised from what its global gates keep (not in the paper): the share of
    samples that the auxiliary classifier puts in their own cluster from ``x * z * z^G[y]`` (closed features
    filled as in training, :func:`aux_inputs`), over all rows and for the weakest cluster (``_min``, of the clusters
    with rows). Global gates that close too much name features that no longer recognise the cluster, and the share
    falls."""
    baseline = module.head_cfg["global_gates"].get("baseline", "zero")
    generator = torch.Generator(device=gated.device).manual_seed(seed)
    z_g = module.global_gates.matrix()[clusters]
    with evaluation_mode(module.aux_classifier):
        kept = module.aux_classifier(aux_inputs(gated, z_g, baseline, generator)).argmax(1)
    hits = kept == clusters
    sizes = torch.bincount(clusters, minlength=module.n_clusters)  # integer counts: deterministic on a GPU too
    per_cluster = torch.bincount(clusters[hits], minlength=module.n_clusters)[sizes > 0] / sizes[sizes > 0]
    return {"global_gate_fidelity": float(hits.float().mean()), "global_gate_fidelity_min": float(per_cluster.min())}


def balance_term(module: nn.Module, probs: Tensor) -> Tensor:
    """The balance prior ``head.balance`` of the soft (or one-hot) assignments ``probs``, which
    :func:`balance_weight` weighs: ``entropy`` pulls the shares to 1/K (:func:`idc.losses.assignment_imbalance`),
    ``min_share`` penalises only shares below ``head.balance_min_share / K`` (:func:`idc.losses.share_shortfall`),
    ``kmeans_proportions`` pulls the sorted shares to those of a k-means partition of the frozen embeddings
    (:func:`idc.losses.share_divergence`, :func:`kmeans_shares`). Not in the paper."""
    kind = module.head_cfg.get("balance", "entropy")
    if kind == "entropy":
        return losses.assignment_imbalance(probs)
    if kind == "min_share":
        return losses.share_shortfall(probs, float(module.head_cfg.get("balance_min_share", 0.5)) / module.n_clusters)
    if kind == "kmeans_proportions":
        return losses.share_divergence(probs, kmeans_shares(module))
    raise ValueError(f"head.balance must be one of {choices(Balance)}, got {kind!r}")


def kmeans_shares(module: nn.Module) -> Tensor:
    """The cluster shares of a k-means++ partition (``module.seed``) of the frozen embeddings, computed once and
    recorded, largest first, in ``module.head_selection["kmeans_shares"]``."""
    frozen = module.frozen
    if frozen.shares is None:
        part = fit_kmeans(frozen.embeddings, module.n_clusters, seed=module.seed).labels_
        shares = np.bincount(part, minlength=module.n_clusters) / len(part)
        frozen.shares = torch.as_tensor(shares, dtype=frozen.embeddings.dtype, device=frozen.embeddings.device)
        module.head_selection["kmeans_shares"] = sorted(shares.tolist(), reverse=True)
    return frozen.shares
