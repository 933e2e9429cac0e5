"""The IDC LightningModule: the two-stage schedule, its optimizers and its logging; nothing else.

Stage 1 (epochs ``0..T1``): the gating network and the autoencoder learn four reconstruction tasks; from
epoch ``T0 + 1`` the gates are on, with the sparsity regulariser (cosine-increasing weight) and the gates'
coding rate. Stage 2 (epochs ``T1 + 1..``): the clustering head learns from the frozen embeddings of gated
inputs with the cluster compression loss; from ``global_gates_start`` the auxiliary classifier learns the
cluster-level gate matrix. Everything follows the official code unless a config option says otherwise.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idc import losses, restarts
from idc.metrics import clustering_metrics, open_gates, silhouette
from idc.nn import Autoencoder, AuxiliaryClassifier, ClusteringHead, GlobalGates, LocalGatingNetwork
from idc.nn.gates import noisy_gates
from idc.nn.init import evaluation_mode
from idc.run_dir import LABEL_SELECTED, SILHOUETTE_SELECTED

log = logging.getLogger(__name__)

RECON_TASKS = ("clean", "gated", "masked", "latent")
#: checkpoint key -> module attribute of the records saved beside the weights
RECORDS = {"idc_best_by_label": "best_by_label", "idc_best_by_silhouette": "best_by_silhouette",
           "idc_head_selection": "head_selection"}
STAGE1_PARTS = ("autoencoder", "gating", "gtcr_projection")  # what stage 1 trains (plus its fixed projection)


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; training stops before that epoch's weights are checkpointed."""


def _refresh_selected(module: "IDCModule", incompatible_keys: Any) -> None:
    """After ``load_state_dict``: the host copy of the selected head's index (a module-level function, so that
    the module stays picklable)."""
    module._selected = int(module.selected_head)


class IDCModule(pl.LightningModule):
    """Interpretable Deep Clustering.

    Args:
        n_features, n_clusters: table shape and the number of clusters K.
        gates: local gating network settings (``configs/gates``); ``enabled: false`` is "IDC w/o gates".
        head: clustering head and global-gate settings (``configs/head``).
        model: autoencoder, reconstruction tasks, learning rates and stage schedule (``configs/model``).
        seed: seeds the fixed random projection of the gates' coding rate.
    """

    def __init__(
        self,
        n_features: int,
        n_clusters: int,
        gates: Mapping[str, Any],
        head: Mapping[str, Any],
        model: Mapping[str, Any],
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.gates_cfg, self.head_cfg, self.model_cfg = dict(gates), dict(head), dict(model)
        sched = self.model_cfg["schedule"]
        self.t0, self.t1 = int(sched["non_gated_epochs"]), int(sched["pretrain_epochs"])
        self.global_start = int(sched["global_gates_start"])
        unknown = set(self.model_cfg["tasks"]) - set(RECON_TASKS)
        if unknown or not self.model_cfg["tasks"]:
            raise ValueError(f"reconstruction tasks must be a non-empty subset of {RECON_TASKS}, got {self.model_cfg['tasks']}")
        epochs = int(sched["epochs"])
        head_trains = epochs > self.t1 + 1 or self.model_cfg.get("embedding_clusterer")
        if not (0 <= self.t0 < self.t1 < self.global_start) or not head_trains:
            raise ValueError(
                f"model.schedule needs 0 <= non_gated_epochs < pretrain_epochs < global_gates_start and "
                f"pretrain_epochs < epochs - 1 (the clustering head trains after pretrain_epochs, and is chosen at "
                f"global_gates_start); got {self.t0}, {self.t1}, {self.global_start}, {epochs}"
            )

        bottleneck = int(self.model_cfg.get("bottleneck") or n_clusters)
        self.autoencoder = Autoencoder(n_features, list(self.model_cfg["hidden"]), bottleneck)
        self.gating = None
        if self.gates_cfg.get("enabled", True):
            self.gating = LocalGatingNetwork(n_features, int(self.gates_cfg.get("hidden_dim") or n_features))
            proj_dim = self.gates_cfg.get("gtcr_projection_dim")
            if proj_dim:
                gen = torch.Generator().manual_seed(seed)
                proj = torch.randn(n_features, int(proj_dim), generator=gen) / float(proj_dim) ** 0.5
                self.register_buffer("gtcr_projection", proj)
        if not hasattr(self, "gtcr_projection"):
            self.gtcr_projection = None
        self.n_clusters = n_clusters
        self.seed = seed
        n_heads = int(self.head_cfg.get("restarts", 1))
        if n_heads < 1:
            raise ValueError(f"head.restarts must be >= 1, got {n_heads}")
        gg = self.head_cfg["global_gates"]
        for group, where, key, choices in (  # each option's first choice is its default
            (self.head_cfg, "head", "restart_criterion", restarts.CRITERIA),
            (self.head_cfg, "head", "init", ("random", "kmeans")),
            (self.head_cfg, "head", "lr_until", ("end", "freeze")),
            (gg, "head.global_gates", "optimizer", ("sgd", "adam")),
            (gg, "head.global_gates", "baseline", ("zero", "permute")),
            (self.model_cfg, "model", "bn_stats", ("stage1", "gated_inputs")),
        ):
            if group.get(key, choices[0]) not in choices:
                raise ValueError(f"{where}.{key} must be one of {choices}, got {group.get(key)!r}")
        self.cluster_heads = nn.ModuleList(
            [ClusteringHead(bottleneck, int(self.head_cfg["hidden_dim"]), n_clusters) for _ in range(n_heads)]
        )
        self.register_buffer("head_shift", torch.zeros(bottleneck))
        self.register_buffer("head_scale", torch.ones(bottleneck))
        # index of the kept head; -1 until selection (at global_gates_start), also with one head, which
        # therefore trains until then even when the kept head is frozen after selection
        self.register_buffer("selected_head", torch.tensor(-1))
        self._selected = int(self.selected_head)  # host copy: no device sync per step
        self.register_load_state_dict_post_hook(_refresh_selected)
        self.head_selection: dict[str, Any] = {}
        self.global_gates = GlobalGates(n_clusters, n_features, float(gg["init_std"]))
        self.aux_classifier = AuxiliaryClassifier(n_features, int(gg["aux_hidden_dim"]), n_clusters)

        self.register_buffer("table", torch.empty(0, n_features), persistent=False)
        self.labels: np.ndarray | None = None
        self._frozen: dict[str, Any] | None = None  # stage-2 cache: embeddings and gated inputs
        self._val_outputs: list[dict[str, Tensor]] = []
        self.best_by_label: dict[str, float] = {}
        self.best_by_silhouette: dict[str, float] = {}
        self._nonfinite: tuple[str, list[str], Tensor] | None = None  # (stage, term names, flags on device)
        self._epoch_weights: dict[str, float] = {}  # schedule weights of this epoch, logged at its end
        self.stage1_loaded = False  # True: weights from load_stage1, stage-1 steps are skipped

    # ----------------------------------------------------------------------------------------------- data
    def attach_table(self, X: Tensor, labels: np.ndarray | None = None) -> None:
        """Give the module the whole table (moved with the module to its device) and optional labels, used
        only for logging metrics."""
        self.table = X.to(self.table.device)
        self.labels = labels

    @property
    def cluster_head(self) -> ClusteringHead:
        """The clustering head in use (the first restart until one is selected)."""
        return self.cluster_heads[max(self._selected, 0)]

    def configure_model(self) -> None:
        """``model.compile: true``: compile the networks in place with ``torch.compile`` (state-dict keys
        unchanged, so checkpoints stay interchangeable); off by default."""
        if self.model_cfg.get("compile", False) and not getattr(self, "_compiled", False):
            for net in (self.gating, self.autoencoder.encoder, self.autoencoder.decoder, self.aux_classifier, *self.cluster_heads):
                if net is not None:
                    net.compile()
            self._compiled = True

    # ------------------------------------------------------------------------------------------ inference
    def local_gates(self, x: Tensor) -> Tensor:
        """Evaluation-mode local gates (all ones without a gating network)."""
        return self.gating.gates(x) if self.gating is not None else torch.ones_like(x)

    @torch.no_grad()
    def infer(self, X: Tensor | None = None, chunk: int = 4096) -> dict[str, Tensor]:
        """Local gates, embeddings of gated inputs, cluster logits and clusters for every row of ``X``
        (default: the attached table), in chunks, in the module's current mode."""
        X = self.table if X is None else X.to(self.device)
        parts = [self._infer_batch(X[i : i + chunk]) for i in range(0, len(X), chunk)]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def _infer_batch(self, x: Tensor) -> dict[str, Tensor]:
        gates = self.local_gates(x)
        emb = self.autoencoder.encoder(x * gates)
        logits = self.cluster_head(self.head_input(emb))
        # float32 outputs whatever the autocast precision (numpy has no bfloat16)
        return {"gates": gates.float(), "embeddings": emb.float(), "logits": logits.float(), "clusters": logits.argmax(1)}

    # ---------------------------------------------------------------------------------------- schedule
    def in_stage1(self, epoch: int | None = None) -> bool:
        return (self.current_epoch if epoch is None else epoch) <= self.t1

    def gates_on(self) -> bool:
        return self.gating is not None and self.current_epoch > self.t0

    def global_gates_on(self) -> bool:
        return self.head_cfg["global_gates"].get("enabled", True) and self.current_epoch >= self.global_start

    # ---------------------------------------------------------------------------------------- training
    def training_step(self, batch: Tensor | tuple[Tensor, Tensor], batch_idx: int) -> None:
        """``batch``: indices into the resident table, or ``(indices, rows)`` from the per-row reference path."""
        idx, rows = batch if isinstance(batch, (tuple, list)) else (batch, None)
        if self.in_stage1():
            self._stage1_step(self.table[idx] if rows is None else rows)
        else:
            self._stage2_step(idx)

    def load_stage1(self, path: str | Path) -> None:
        """Take the autoencoder and gating network from another run's stage-1 checkpoint (read with
        ``weights_only=True``); stage 1 is then skipped, so stage-2 settings can be swept on one stage 1."""
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        mine = {k: v for k, v in self.state_dict().items() if k.split(".")[0] in STAGE1_PARTS}
        theirs = {k: v for k, v in state.items() if k.split(".")[0] in STAGE1_PARTS}
        if mine.keys() != theirs.keys() or any(mine[k].shape != theirs[k].shape for k in mine):
            raise ValueError(
                f"{path}: its autoencoder / gating network do not match this model (other table, gates or "
                "model.hidden / model.bottleneck); train stage 1 again or use the same settings"
            )
        self.load_state_dict(theirs, strict=False)
        self.stage1_loaded = True

    def _stage1_step(self, x: Tensor) -> None:
        """Gated self-supervised reconstruction (code ``ae_step``; paper Sec. 4.2)."""
        if self.stage1_loaded:
            return
        opt = self.optimizers()[0]
        sched = self.lr_schedulers()[0]
        tasks, kind = self.model_cfg["tasks"], self.model_cfg["recon_loss"]
        ae = self.autoencoder
        terms: dict[str, Tensor] = {}
        h_clean = ae.encoder(x)  # computed once, reused by the clean and latent-noise tasks
        if "clean" in tasks:
            terms["recon_clean"] = losses.reconstruction_loss(ae.decoder(h_clean), x, kind)
        loss = torch.zeros((), device=x.device)
        if self.gates_on():
            g = self.gates_cfg
            mu = self.gating(x)
            z = noisy_gates(mu, float(g["noise_std"]))
            if "gated" in tasks:
                terms["recon_gated"] = losses.reconstruction_loss(ae(x * z), x, kind)
            reg = losses.gate_regulariser(mu, float(g["reg_sigma"]), g["reg_reduction"])
            gtcr = losses.gates_coding_rate_loss(
                z, float(g["gtcr_eps"]), self.gtcr_projection, bool(g.get("gtcr_small_side", True))
            )
            reg_weight = losses.cosine_increase(self.current_epoch, self.t0, self.t1, float(g["reg_lambda"]))
            loss = loss + reg_weight * reg + float(g["gtcr_lambda"]) * gtcr
            self._log_epoch({"stage1/gate_reg": reg, "stage1/gtcr": gtcr})
            self._epoch_weights["stage1/gate_reg_weight"] = reg_weight
        elif "gated" in tasks:
            # gates are all ones (warm-up, or no gating network): the gated task is the clean task again
            terms["recon_gated"] = (
                terms["recon_clean"] if "recon_clean" in terms else losses.reconstruction_loss(ae.decoder(h_clean), x, kind)
            )
        if "masked" in tasks:
            keep = (torch.rand_like(x) >= float(self.model_cfg["mask_rate"])).to(x.dtype)
            terms["recon_masked"] = losses.reconstruction_loss(ae(x * keep), x, kind)
        if "latent" in tasks:
            # at least float32: under bf16 autocast a 1% noise around 1 would fall on a grid of a few values
            dtype = torch.promote_types(h_clean.dtype, torch.float32)
            noise = 1.0 + float(self.model_cfg["latent_noise_std"]) * torch.randn_like(h_clean, dtype=dtype)
            terms["recon_latent"] = losses.reconstruction_loss(ae.decoder(h_clean.to(dtype) * noise), x, kind)
        for value in terms.values():
            loss = loss + value
        self._watch("stage 1", {**terms, "loss": loss})
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()
        sched.step()
        self._log_epoch({f"stage1/{k}": v for k, v in terms.items()})
        self._log_epoch({"stage1/loss": loss}, prog_bar=True)

    def _stage2_step(self, idx: Tensor) -> None:
        """Clustering head on frozen embeddings (compression loss, Gumbel-softmax), then the global gates.

        The two losses touch disjoint parameters (the pseudo-labels are detached), so one backward pass of
        their sum gives each optimizer exactly its own gradients (and keeps DDP to one backward per step).
        """
        opt_head, opt_aux = self.optimizers()[1:]
        sched_head = self.lr_schedulers()[1]
        emb = self._frozen["embeddings"][idx]
        inputs = self._frozen["head_inputs"][idx]
        # while restarts train side by side, their (independent) losses are summed: one backward, and Adam
        # updates each head from its own gradient only; a head frozen after selection trains no more
        frozen_head = self._selected >= 0 and bool(self.head_cfg.get("freeze_after_selection", False))
        heads = [] if frozen_head else self.cluster_heads if self._selected < 0 else [self.cluster_head]
        balance = self.balance_weight()
        loss = compression = imbalance = torch.zeros((), device=emb.device)
        terms = {}
        for head in heads:
            logits = head(inputs)
            probs = losses.gumbel_softmax_probs(logits, float(self.head_cfg["tau"]))
            compression = compression + losses.cluster_compression_loss(emb, probs, float(self.head_cfg["eps"]))
            if balance:
                imbalance = imbalance + losses.assignment_imbalance(probs)
        if heads:
            loss = compression + balance * imbalance
            self._log_epoch({"stage2/compression": compression / len(heads)}, prog_bar=True)
            terms["compression"] = compression
            if balance:
                self._log_epoch({"stage2/imbalance": imbalance / len(heads)})
                terms["imbalance"] = imbalance
        train_global = self.global_gates_on() and self._selected >= 0
        if train_global:
            # the selected head's pseudo-labels (the only head left in `heads`, or its fixed partition)
            pseudo = self._frozen_partition()[idx] if frozen_head else logits.detach().argmax(1)
            ce, reg = self.global_gate_losses(self._frozen["gated"][idx], pseudo)
            terms.update(aux_ce=ce, global_gate_reg=reg)
            reg_weight = self.global_reg_weight()
            loss = loss + ce + reg_weight * reg
            self._log_epoch({"stage2/aux_ce": ce, "stage2/global_gate_reg": reg})
            self._epoch_weights["stage2/global_reg_weight"] = reg_weight
        if not terms:
            return  # a frozen head and no global gates: nothing left to train
        self._watch("stage 2", terms)
        opt_head.zero_grad(set_to_none=True)
        opt_aux.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if heads:
            opt_head.step()
            sched_head.step()
        if train_global:
            opt_aux.step()

    def balance_weight(self) -> float:
        """Weight of the balance prior: ``head.balance_weight`` times the coding rate of all frozen embeddings as one
        cluster (the compression loss of the trivial partition), so that the prior has the same strength against
        the compression loss whatever the bottleneck, eps or sample count (not in the paper)."""
        weight = float(self.head_cfg.get("balance_weight", 0.0))
        if not weight:
            return 0.0
        if "rate" not in self._frozen:
            emb = self._frozen["embeddings"]
            one = torch.ones(len(emb), 1, dtype=emb.dtype, device=emb.device)
            self._frozen["rate"] = float(losses.cluster_compression_loss(emb, one, float(self.head_cfg["eps"])))
            self.head_selection["balance_scale"] = self._frozen["rate"]
        return weight * self._frozen["rate"]

    def _frozen_partition(self) -> Tensor:
        """The selected head's evaluation-mode partition of the frozen embeddings (cached: neither changes)."""
        if "partition" not in self._frozen:
            self._frozen["partition"] = self._partitions([self.cluster_head])[0]
        return self._frozen["partition"]

    @torch.no_grad()
    def _partitions(self, heads: Sequence[nn.Module]) -> list[Tensor]:
        """Each head's evaluation-mode hard partition of the frozen embeddings."""
        inputs = self._frozen["head_inputs"]
        with evaluation_mode(*heads):
            return [torch.cat([h(inputs[i : i + 4096]).argmax(1) for i in range(0, len(inputs), 4096)]) for h in heads]

    def _log_epoch(self, values: dict[str, Tensor | float], prog_bar: bool = False) -> None:
        """Accumulate on the device, reduce once per epoch (no host sync per step; averaged across DDP ranks)."""
        self.log_dict(values, on_step=False, on_epoch=True, prog_bar=prog_bar, sync_dist=True)

    def _watch(self, stage: str, terms: dict[str, Tensor]) -> None:
        """Remember, on the device (no host sync per step), whether any term was ever non-finite this epoch."""
        bad = torch.stack([~torch.isfinite(t.detach()).all() for t in terms.values()])
        key = (stage, list(terms))
        if self._nonfinite is None or self._nonfinite[:2] != key:
            if self._nonfinite is not None:
                self.raise_if_nonfinite()
            self._nonfinite = (*key, bad)
        else:
            self._nonfinite = (*key, self._nonfinite[2] | bad)

    def raise_if_nonfinite(self) -> None:
        """Raise NonFiniteLossError if a loss term was NaN or infinite since the last check (once per epoch)."""
        if self._nonfinite is None:
            return
        stage, names, flags = self._nonfinite
        self._nonfinite = None
        bad = [n for n, f in zip(names, flags.tolist()) if f]  # one host sync per epoch
        trainer = getattr(self, "_trainer", None)
        if trainer is not None and trainer.world_size > 1:  # every DDP process stops together, or none does
            if trainer.strategy.reduce_boolean_decision(bool(bad), all=False) and not bad:
                bad = ["(in another process)"]
        if bad:
            raise NonFiniteLossError(
                f"{stage}, epoch {self.current_epoch}: the loss term(s) {bad} became NaN or infinite; training "
                "stopped and the last good checkpoint is kept (lower the learning rates or check the data)"
            )

    def global_gate_losses(self, gated: Tensor, pseudo: Tensor) -> tuple[Tensor, Tensor]:
        """Auxiliary classifier's cross-entropy against the pseudo-labels ``y`` and the global gates' regulariser
        (paper Sec. 4.3; the total is ``ce + global_reg_weight() * reg``).

        The classifier sees ``x * z * z^G[y]`` (``baseline: zero``, paper). Because ``z^G`` is picked by the
        label itself, which features are zeroed can tell the classes apart on its own (the "encoding" problem of
        selector-predictor explanations, Jethani et al., AISTATS 2021). ``baseline: permute`` fills a closed
        feature with the same feature of another sample of the batch, ``x*z*z^G + x'*z'*(1 - z^G)``: a closed
        feature then follows the feature's marginal in every cluster, so only informative features stay open.
        """
        gg = self.head_cfg["global_gates"]
        mu_g = self.global_gates.mu(pseudo)
        z_g = noisy_gates(mu_g, float(gg["noise_std"]))
        inputs = gated * z_g
        if gg.get("baseline", "zero") == "permute":
            inputs = inputs + gated[torch.randperm(len(gated), device=gated.device)] * (1.0 - z_g)
        ce = F.cross_entropy(self.aux_classifier(inputs), pseudo)
        return ce, losses.gate_regulariser(mu_g, float(gg["reg_sigma"]), gg["reg_reduction"])

    def global_reg_weight(self, epoch: int | None = None) -> float:
        """Weight of the global gates' regulariser: constant (official code) or rising on a half cosine from
        ``global_gates_start`` to the last epoch (the paper's increasing lambda^g_t, Sec. 4.3)."""
        gg = self.head_cfg["global_gates"]
        weight = float(gg["reg_lambda"])
        schedule = gg.get("reg_schedule", "constant")
        if schedule == "constant":
            return weight
        if schedule == "cosine":
            last = int(self.model_cfg["schedule"]["epochs"]) - 1
            return losses.cosine_increase(self.current_epoch if epoch is None else epoch, self.global_start, last, weight)
        raise ValueError(f"head.global_gates.reg_schedule must be 'constant' or 'cosine', got {schedule!r}")

    def on_train_epoch_end(self) -> None:
        self.raise_if_nonfinite()
        # the schedules' weights are Python floats, constant within an epoch: logged once here, since logging a
        # float in a step copies it to the device and syncs the GPU every step
        if self._epoch_weights:
            self.log_dict(self._epoch_weights, on_step=False, on_epoch=True)
            self._epoch_weights = {}
        last_epoch = self.trainer is not None and self.current_epoch >= self.trainer.max_epochs - 1
        if last_epoch and not self.in_stage1() and self._selected < 0:
            self.select_head()
            # chosen after this epoch's evaluation (no global gates): its final partition still gets its picks
            self._score_epoch(self._partitions([self.cluster_head])[0].cpu().numpy())

    def on_train_epoch_start(self) -> None:
        if self.in_stage1():
            return
        if self._frozen is None:
            self._freeze_inputs()
        if self.current_epoch == self.t1 + 1 and self.head_cfg.get("init", "random") == "kmeans":
            self.init_heads_from_kmeans()
        if self.global_gates_on() and self._selected < 0:
            self.select_head()  # the global gates learn from the selected head's pseudo-labels

    def init_heads_from_kmeans(self) -> None:
        """Fit each head to its own k-means++ partition (seed + restart index) of the frozen embeddings."""
        emb, inputs = self._frozen["embeddings"], self._frozen["head_inputs"]
        agreement = []
        for r, head in enumerate(self.cluster_heads):
            partition = restarts.kmeans_partition(emb, self.n_clusters, seed=self.seed + r)
            agreement.append(
                restarts.fit_head_to_partition(
                    head, inputs, partition, steps=int(self.head_cfg.get("init_steps", 200)), seed=self.seed + r
                )
            )
        self.head_selection["kmeans_init_agreement"] = agreement

    @torch.no_grad()
    def select_head(self) -> int:
        """Keep the restart with the lowest label-free criterion (evaluation-mode partitions of the frozen
        embeddings) and record the criterion's values in ``head_selection`` (written to metrics.json)."""
        if len(self.cluster_heads) == 1:  # nothing to choose
            self.selected_head.fill_(0)
            self._selected = 0
            return 0
        if self._frozen is None:
            self._freeze_inputs()
        partitions = self._partitions(self.cluster_heads)
        name = self.head_cfg.get("restart_criterion", "compression")
        values = restarts.criterion_values(
            name, self._frozen["embeddings"], partitions, self.n_clusters, float(self.head_cfg["eps"]), self.seed,
            balance=self.balance_weight(),
        )
        chosen = int(np.argmin(values))
        self.selected_head.fill_(chosen)
        self._selected = chosen
        self.head_selection.update(
            criterion=name, values=values, chosen=chosen, epoch=int(self.current_epoch),
            clusters_used=[int(p.unique().numel()) for p in partitions],
        )
        return chosen

    @torch.no_grad()
    def _freeze_inputs(self) -> None:
        """Stage 2 trains only the head and the global gates, so the embeddings of gated inputs are computed
        once, in evaluation mode (this also keeps the encoder's BatchNorm statistics fixed, which drift in
        the official code because its frozen encoder stays in training mode)."""
        if self.model_cfg.get("bn_stats", "stage1") == "gated_inputs":
            self.refresh_batchnorm_statistics()
        embs, gated, n_open = [], [], []
        with evaluation_mode(self.gating, self.autoencoder):
            for i in range(0, len(self.table), 4096):
                x = self.table[i : i + 4096]
                z = self.local_gates(x)
                n_open.append((z > 0).sum(1))
                xg = x * z
                gated.append(xg)
                embs.append(self.autoencoder.encoder(xg))
        self.set_frozen(torch.cat(embs), torch.cat(gated))
        median_open = float(torch.cat(n_open).float().median())
        if self.gates_cfg.get("enabled", True) and median_open < 2:
            log.warning(
                "stage 1 left a median of %g of %d features open per sample: the clustering sees almost nothing. "
                "Lower the sparsity pressure (gates.reg_lambda, e.g. 0.1) or lengthen stage 1.",
                median_open, self.table.shape[1],
            )

    @torch.no_grad()
    def refresh_batchnorm_statistics(self, chunk: int = 4096) -> None:
        """``model.bn_stats=gated_inputs``: recompute the encoder's BatchNorm statistics on the gated inputs
        ``x * z`` alone (averages over the table), instead of the running averages of stage 1's clean,
        gated and masked passes. With full batches this is what the official code's encoder, left in training
        mode, normalises stage-2 inputs with; here once, deterministically, and kept for prediction."""
        norms = [m for m in self.autoencoder.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one pass over the table gives its statistics
        encoder, was_training = self.autoencoder.encoder, self.autoencoder.encoder.training
        with evaluation_mode(self.gating):
            encoder.train()
            for x in torch.tensor_split(self.table, -(-len(self.table) // chunk)):  # even chunks: none of 1 row
                encoder(x * self.local_gates(x))
        encoder.train(was_training)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum

    @torch.no_grad()
    def set_frozen(self, embeddings: Tensor, gated: Tensor) -> None:
        """Stage-2 inputs: embeddings (for the compression loss), the head's inputs, gated inputs (for the
        auxiliary classifier); with ``head.standardize_inputs`` the head's statistics are set from them."""
        if self.head_cfg.get("standardize_inputs", False):
            self.head_shift.copy_(embeddings.mean(0))
            self.head_scale.copy_(embeddings.std(0).clamp_min(torch.finfo(embeddings.dtype).tiny))
        self._frozen = {"embeddings": embeddings, "head_inputs": self.head_input(embeddings), "gated": gated}

    def head_input(self, emb: Tensor) -> Tensor:
        """What the clustering head sees: the embedding, standardised per dimension with the stage-2 statistics
        when ``head.standardize_inputs`` (the head's BatchNorm cannot rescue tiny embeddings: its eps dominates)."""
        return (emb - self.head_shift) / self.head_scale

    # -------------------------------------------------------------------------------------- evaluation
    def validation_step(self, idx: Tensor, batch_idx: int) -> None:
        out = self._infer_batch(self.table[idx])
        self._val_outputs.append({"gates": out["gates"], "clusters": out["clusters"]})

    def on_validation_epoch_end(self) -> None:
        gates = torch.cat([o["gates"] for o in self._val_outputs]).cpu().numpy()
        clusters = torch.cat([o["clusters"] for o in self._val_outputs]).cpu().numpy()
        self._val_outputs.clear()
        metrics = {
            "val/open_local_gates": open_gates(gates, "median"),
            "val/open_global_gates": open_gates(self.global_gates.matrix().cpu().numpy(), "mean"),
        }
        # the head trains only in stage 2; while restarts train side by side none is the model's head yet
        if not self.in_stage1() and (self._selected >= 0 or len(self.cluster_heads) == 1):
            metrics.update(self._score_epoch(clusters))
        self.log_dict(metrics, rank_zero_only=True)

    def epoch_selections(self) -> dict[str, dict[str, float]]:
        """The stage-2 evaluations kept during training, under their ``metrics.json`` names: the highest
        silhouette (label-free) and the highest ACC (picked with the labels, never a result)."""
        picks = {SILHOUETTE_SELECTED: self.best_by_silhouette, LABEL_SELECTED: self.best_by_label}
        return {name: dict(pick) for name, pick in picks.items() if pick}

    def _score_epoch(self, clusters: np.ndarray) -> dict[str, float]:
        """One stage-2 evaluation: the silhouette of its partition on the frozen embeddings (label-free; -1 for one
        cluster), and with labels ACC/NMI/ARI. Keeps the evaluation with the highest silhouette (the label-free
        checkpoint selection the paper's text names) and, apart, the one with the highest ACC (the official
        code's label-picked report); each records the other scores of its epoch and the clusters it used."""
        metrics: dict[str, float] = {}
        if self._frozen is not None:
            if "host_embeddings" not in self._frozen:  # fixed through stage 2: copied to the host once
                self._frozen["host_embeddings"] = self._frozen["embeddings"].float().cpu().numpy()
            metrics["val/silhouette"] = silhouette(self._frozen["host_embeddings"], clusters, seed=self.seed, undefined=-1.0)
        scores = clustering_metrics(self.labels, clusters) if self.labels is not None else {}
        metrics.update({f"val/{k}": v for k, v in scores.items()})
        if self._trainer is not None and self._trainer.sanity_checking:
            return metrics  # a sanity check before a resumed epoch: logged, never picked
        epoch = {"epoch": int(self.current_epoch), "clusters_used": int(len(np.unique(clusters))),
                 **{k.removeprefix("val/"): v for k, v in metrics.items()}}
        if "silhouette" in epoch and epoch["silhouette"] > self.best_by_silhouette.get("silhouette", -2.0):
            self.best_by_silhouette = epoch
        if "acc" in epoch and epoch["acc"] > self.best_by_label.get("acc", -1.0):
            self.best_by_label = epoch
        return metrics

    # ------------------------------------------------------------------------------------- optimizers
    def configure_optimizers(self):
        lr, min_lr = self.model_cfg["lr"], self.model_cfg["min_lr"]
        steps = max(int(self.trainer.estimated_stepping_batches // max(self.trainer.max_epochs, 1)), 1)
        stage1 = [*self.autoencoder.parameters(), *(self.gating.parameters() if self.gating else [])]
        opt_pre = torch.optim.Adam(stage1, lr=float(lr["pretrain"]))
        opt_head = torch.optim.Adam(self.cluster_heads.parameters(), lr=float(lr["clustering"]))
        opt_aux = self._aux_optimizer(float(lr["aux_classifier"]))
        stage2_epochs = max(int(self.trainer.max_epochs) - self.t1 - 1, 1)
        sched_pre = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt_pre, T_max=steps * (self.t1 + 1), eta_min=float(min_lr["pretrain"])
        )
        sched_head = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt_head, T_max=steps * self.head_training_epochs(stage2_epochs), eta_min=float(min_lr["clustering"])
        )
        return [opt_pre, opt_head, opt_aux], [sched_pre, sched_head]

    def head_training_epochs(self, stage2_epochs: int) -> int:
        """The head's cosine horizon: all of stage 2 (``head.lr_until=end``, official), or only the epochs before
        a head frozen after selection stops training (``head.lr_until=freeze``), so that its rate anneals."""
        head = self.head_cfg
        # the kept head freezes at global_gates_start only when the global gates train (else selection is at the end)
        freezes = head.get("freeze_after_selection", False) and head["global_gates"].get("enabled", True)
        if head.get("lr_until", "end") == "freeze" and freezes:
            return max(self.global_start - self.t1 - 1, 1)
        return stage2_epochs

    def _aux_optimizer(self, lr: float) -> torch.optim.Optimizer:
        """One optimizer for the auxiliary classifier and the global gate matrix: SGD at ``lr`` (official code),
        or Adam (``head.global_gates.optimizer=adam``) at ``head.global_gates.lr``. Adam's per-coordinate step
        lets the gates move when the regulariser's gradient per gate is tiny (a mean over thousands of features)."""
        gg = self.head_cfg["global_gates"]
        params = [*self.aux_classifier.parameters(), *self.global_gates.parameters()]
        if gg.get("optimizer", "sgd") == "adam":
            return torch.optim.Adam(params, lr=float(gg["lr"]))
        return torch.optim.SGD(params, lr=lr)

    # ----------------------------------------------------------------------------------- checkpoints
    def restore_records(self, checkpoint: Mapping[str, Any]) -> None:
        """The records kept beside the weights (:data:`RECORDS`; absent in older checkpoints: empty)."""
        for key, attribute in RECORDS.items():
            setattr(self, attribute, dict(checkpoint.get(key, {})))

    def clear_epoch_selections(self) -> None:
        """Forget the evaluations picked during training (they say nothing about another table)."""
        self.best_by_label, self.best_by_silhouette = {}, {}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        for key, attribute in RECORDS.items():
            checkpoint[key] = dict(getattr(self, attribute))
        # random state, so that a resumed run draws the same gate noise and masks as an uninterrupted one
        checkpoint["idc_rng"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["idc_rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.restore_records(checkpoint)
        rng = checkpoint.get("idc_rng", {})
        if "cpu" in rng:
            torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
