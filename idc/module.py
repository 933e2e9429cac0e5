"""The IDC LightningModule: the training plan of the two stages (optimizers, steps, logging, the NaN guard).

Stage 1: the gating network and the autoencoder learn four reconstruction tasks; once the gates are on, with the
sparsity regulariser (cosine-increasing weight) and the gates' coding rate (paper Sec. 4.2). Stage 2: the
clustering head learns from the frozen embeddings of gated inputs with the cluster compression loss; later the
auxiliary classifier learns the cluster-level gate matrix (Sec. 4.3). When is in :class:`idc.schedule.Schedule`;
stage 2's inputs, starts and restarts in :mod:`idc.stage2`; evaluations and their picks in
:class:`idc.callbacks.EpochPicks`; the table in the DataModule. Everything follows the official code unless a
config option says otherwise.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from idc import objectives, stage2
from idc.nn import (Autoencoder, AuxiliaryClassifier, DECTarget, GlobalGates, decoder_metric, head_kind,
                    make_gate_network, make_head)
from idc.nn.gates import gate_options, kind_of
from idc.refit_global_gates import guard_trained
from idc.schedule import Schedule

RECON_TASKS = ("clean", "gated", "masked", "latent")


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; training stops before that epoch's weights are checkpointed."""


def _refresh_selected(module: "IDCModule", incompatible_keys: Any) -> None:
    """After ``load_state_dict``: the host copy of the selected head's index (module level: picklable)."""
    module._selected = int(module.selected_head)


class IDCModule(pl.LightningModule):
    """Interpretable Deep Clustering.

    Args:
        n_features, n_clusters: table shape and the number of clusters K.
        gates: local gate network settings (``configs/gates``: ``kind`` stg or hard_concrete, see
            :mod:`idc.nn.gates`); ``enabled: false`` is "IDC w/o gates".
        head: clustering head (``kind`` mcr, kmeans or dec, see :mod:`idc.nn.heads`) and global-gate settings
            (``configs/head``).
        model: autoencoder, reconstruction tasks and learning rates (``configs/model``).
        schedule: the ``schedule`` node (epoch counts); ``None``: ``model["schedule"]`` (0-based indices, runs
            saved before the node existed). See :meth:`Schedule.from_mapping`.
        seed: seeds the fixed random projection of the gates' coding rate.
    """

    def __init__(self, n_features: int, n_clusters: int, gates: Mapping[str, Any], head: Mapping[str, Any],
                 model: Mapping[str, Any], schedule: Mapping[str, Any] | None = None, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.gates_cfg, self.head_cfg, self.model_cfg = dict(gates), dict(head), dict(model)
        self.schedule = Schedule.from_mapping(schedule if schedule is not None else self.model_cfg["schedule"],
                                              needs_stage2=not self.model_cfg.get("embedding_clusterer"))
        if set(self.model_cfg["tasks"]) - set(RECON_TASKS):  # none: the ablation "w/o L_recon"
            raise ValueError(f"reconstruction tasks must be a subset of {RECON_TASKS}, got {self.model_cfg['tasks']}")
        stage2.check_options(self.head_cfg, self.model_cfg)

        at_least = max(n_clusters, int(self.model_cfg.get("bottleneck_min", 0)))  # model.bottleneck null: K or the minimum
        bottleneck = int(self.model_cfg.get("bottleneck") or at_least)
        self.autoencoder = Autoencoder(n_features, list(self.model_cfg["hidden"]), bottleneck,
                                       linear_path=bool(self.model_cfg.get("linear_path", False)))
        kind, projection = kind_of(self.gates_cfg), None
        options = {} if kind == "none" else {
            k: self.gates_cfg[k] for k in gate_options(kind) if self.gates_cfg.get(k) is not None}
        self.gating = make_gate_network(kind, n_features, self.gates_cfg.get("hidden_dim"), **options)
        if self.gating is not None:
            if proj_dim := self.gates_cfg.get("gtcr_projection_dim"):
                gen = torch.Generator().manual_seed(seed)
                projection = torch.randn(n_features, int(proj_dim), generator=gen) / float(proj_dim) ** 0.5
        self.register_buffer("gtcr_projection", projection)  # None (not saved) without a projection
        self.n_clusters, self.seed = n_clusters, seed
        self.head_kind = head_kind(self.head_cfg)
        self.cluster_heads = nn.ModuleList(
            [make_head(self.head_cfg, bottleneck, n_clusters) for _ in range(int(self.head_cfg.get("restarts") or 1))])
        # head=kmeans has no parameters: nothing of it trains; head=dec learns towards a target refreshed in steps
        self.head_trains = any(p.requires_grad for p in self.cluster_heads.parameters())
        self.dec_target = DECTarget(int(self.head_cfg.get("target_every", 1))) if self.head_kind == "dec" else None
        self.register_buffer("head_shift", torch.zeros(bottleneck))
        self.register_buffer("head_scale", torch.ones(bottleneck))
        # head.metric=whitened: the map onto the embeddings' whitened top K-1 principal directions (saved only then)
        self.register_buffer("head_map", torch.eye(bottleneck) if self.head_cfg.get("metric") == "whitened" else None)
        # index of the kept head; -1 until selection (at the global gates' start), also with one head, which
        # therefore trains until then even when the kept head is frozen after selection
        self.register_buffer("selected_head", torch.tensor(-1))
        self._selected = int(self.selected_head)  # host copy: no device sync per step
        self.register_load_state_dict_post_hook(_refresh_selected)
        self.head_selection: dict[str, Any] = {}  # restarts' criterion values, k-means agreement (metrics.json)
        gg = self.head_cfg["global_gates"]
        self.global_gates = GlobalGates(n_clusters, n_features, float(gg["init_std"]))
        self.aux_classifier = AuxiliaryClassifier(n_features, int(gg["aux_hidden_dim"]), n_clusters)
        self.frozen: stage2.FrozenInputs | None = None  # stage 2's inputs, computed once
        self._nonfinite: tuple[str, list[str], Tensor] | None = None  # (stage, term names, flags on device)
        self._epoch_weights: dict[str, float] = {}  # schedule weights of this epoch, logged at its end
        self.stage1_loaded = False  # True: weights from stage2.load_stage1, stage-1 steps are skipped

    @property
    def cluster_head(self) -> nn.Module:
        """The clustering head in use (the first restart until one is selected)."""
        return self.cluster_heads[max(self._selected, 0)]

    def configure_model(self) -> None:
        """``model.compile: true``: compile the networks in place (state-dict keys unchanged); off by default."""
        if self.model_cfg.get("compile", False) and not getattr(self, "_compiled", False):
            for net in filter(None, (self.gating, *self.autoencoder.children(), self.aux_classifier, *self.cluster_heads)):
                net.compile()
            self._compiled = True

    def local_gates(self, x: Tensor) -> Tensor:
        """Evaluation-mode local gates (all ones without a gating network)."""
        return self.gating.gates(x) if self.gating is not None else torch.ones_like(x)

    def head_input(self, emb: Tensor) -> Tensor:
        """What the clustering head sees: the embedding, standardised with the stage-2 statistics when
        ``head.standardize_inputs`` (the head's BatchNorm cannot rescue tiny embeddings: its eps dominates),
        mapped to the linear decoder's metric with ``head.metric=decoder`` (:func:`decoder_metric`), or to the
        whitened top K-1 principal directions with ``head.metric=whitened`` (:func:`idc.stage2.whitening`)."""
        if self.head_cfg.get("metric") == "decoder":
            return emb @ decoder_metric(self.autoencoder.decoder[0].weight).to(emb.dtype).T
        if getattr(self, "head_map", None) is not None:  # absent from modules pickled before the metric existed
            return (emb - self.head_shift) @ self.head_map
        return (emb - self.head_shift) / self.head_scale

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Local gates, embeddings of gated inputs, cluster logits and clusters of the rows ``x`` (float32
        whatever the autocast precision: numpy has no bfloat16); :func:`idc.inference.predict` for a table."""
        gates = self.local_gates(x)
        emb = self.autoencoder.encoder(x * gates)
        logits = self.cluster_head(self.head_input(emb))
        return {"gates": gates.float(), "embeddings": emb.float(), "logits": logits.float(), "clusters": logits.argmax(1)}

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """``batch``: the indices of the rows in the table and the rows (see ``TableDataModule``)."""
        idx, rows = batch
        if self.schedule.in_stage1(self.current_epoch):
            self._stage1_step(rows)
        else:
            self._stage2_step(idx, batch_idx)

    def stage1_losses(self, x: Tensor, epoch: int) -> dict[str, Tensor]:
        """Stage 1's terms at ``epoch`` and their weighted sum ``loss`` (:func:`idc.objectives.stage1`)."""
        terms, weights = objectives.stage1(self, x, epoch)
        self._epoch_weights.update(weights)
        return terms

    def _stage1_step(self, x: Tensor) -> None:
        if self.stage1_loaded:
            return
        terms = self.stage1_losses(x, self.current_epoch)
        if not terms["loss"].requires_grad:  # no reconstruction task and the gates still off: nothing to learn
            return
        self._watch("stage 1", {k: v for k, v in terms.items() if k.startswith("recon_") or k == "loss"})
        opt = self.optimizers()[0]
        opt.zero_grad(set_to_none=True)
        self.manual_backward(terms["loss"])
        opt.step()
        self._schedulers()[0].step()
        self._log_epoch({f"stage1/{k}": v for k, v in terms.items() if k != "loss"})
        self._log_epoch({"stage1/loss": terms["loss"]}, prog_bar=True)

    def _stage2_step(self, idx: Tensor, batch_idx: int = 0) -> None:
        """Clustering head on frozen embeddings (``mcr``: compression loss, Gumbel-softmax; ``dec``: KL to its
        target; ``kmeans``: nothing to train), then the global gates.

        The two losses touch disjoint parameters (the pseudo-labels are detached), so one backward pass of
        their sum gives each optimizer exactly its own gradients (and keeps DDP to one backward per step).
        """
        opts = self.optimizers()
        opt_head, opt_aux = (opts[1], opts[2]) if self.head_trains else (None, opts[1])
        emb, inputs = self.frozen.embeddings[idx], self.frozen.head_inputs[idx]
        # while restarts train side by side, their (independent) losses are summed: one backward, and Adam
        # updates each head from its own gradient only; a head frozen after selection trains no more
        frozen_head = not self.head_trains or (
            self._selected >= 0 and bool(self.head_cfg.get("freeze_after_selection", False)))
        heads = [] if frozen_head else self.cluster_heads if self._selected < 0 else [self.cluster_head]
        if self.head_kind == "dec":
            step = (self.current_epoch - self.schedule.stage1_epochs) * self.trainer.num_training_batches + batch_idx
            loss, terms, logits, logged, weights = objectives.dec(self, heads, inputs, idx, step)
        else:
            loss, terms, logits, logged, weights = objectives.mcr(self, heads, emb, inputs)
        self._epoch_weights.update(weights)
        for name, value in logged.items():
            self._log_epoch({name: value}, prog_bar=name in ("stage2/compression", "stage2/dec_kl"))
        train_global = self.schedule.global_gates_on(self.current_epoch) and self._selected >= 0 and self.global_gates_enabled
        if train_global:
            # the selected head's pseudo-labels (the only head left in `heads`, or its fixed partition)
            pseudo = stage2.frozen_partition(self)[idx] if frozen_head else logits.detach().argmax(1)
            ce, reg = stage2.global_gate_losses(self, self.frozen.gated[idx], pseudo)
            terms.update(aux_ce=ce, global_gate_reg=reg)
            gg = self.head_cfg["global_gates"]
            reg_weight = self.schedule.global_reg_weight(self.current_epoch, float(gg["reg_lambda"]), gg.get("reg_schedule", "constant"))
            loss = loss + ce + reg_weight * reg
            self._log_epoch({"stage2/aux_ce": ce, "stage2/global_gate_reg": reg})
            self._epoch_weights["stage2/global_reg_weight"] = reg_weight
        if not terms:
            return  # a frozen head and no global gates: nothing left to train
        self._watch("stage 2", terms)
        if opt_head is not None:
            opt_head.zero_grad(set_to_none=True)
        opt_aux.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if heads:
            opt_head.step()
            self._schedulers()[1].step()
        if train_global:
            opt_aux.step()

    def _schedulers(self) -> list:
        """The learning-rate schedulers as a list (Lightning gives a lone one without its list: head=kmeans)."""
        found = self.lr_schedulers()
        return found if isinstance(found, list) else [found]

    @property
    def global_gates_enabled(self) -> bool:
        return bool(self.head_cfg["global_gates"].get("enabled", True))

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """The evaluation of one chunk of the table; :class:`idc.callbacks.EpochPicks` scores the whole."""
        out = self(batch[1])
        return {"gates": out["gates"], "clusters": out["clusters"]}

    # --------------------------------------------------------------------------------- logging and guard
    def _log_epoch(self, values: dict[str, Tensor | float], prog_bar: bool = False) -> None:
        """Accumulate on the device, reduce once per epoch (no host sync per step; averaged across DDP ranks)."""
        self.log_dict(values, on_step=False, on_epoch=True, prog_bar=prog_bar, sync_dist=True)

    def _watch(self, stage: str, terms: dict[str, Tensor]) -> None:
        """Remember, on the device (no host sync per step), whether any term was ever non-finite this epoch."""
        bad = stage2.nonfinite_terms(terms)
        key = (stage, list(terms))
        if self._nonfinite is not None and self._nonfinite[:2] == key:
            bad = self._nonfinite[2] | bad
        elif self._nonfinite is not None:
            self.raise_if_nonfinite()
        self._nonfinite = (*key, bad)

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
                "stopped and the last good checkpoint is kept (lower the learning rates or check the data)")

    # ----------------------------------------------------------------------------------- epoch boundaries
    def on_train_epoch_start(self) -> None:
        epoch = self.current_epoch
        if self.schedule.in_stage1(epoch):
            return
        if self.frozen is None:
            stage2.freeze_inputs(self, self.trainer.datamodule.table_on(self.device))
        if epoch == self.schedule.stage1_epochs:
            if self.head_kind in ("kmeans", "dec"):
                stage2.fit_centroid_heads(self)
            elif self.head_cfg.get("init") == "kmeans":
                stage2.init_heads_from_kmeans(self)
        if self.global_gates_enabled and self.schedule.global_gates_on(epoch) and self._selected < 0:
            stage2.select_head(self)  # the global gates learn from the selected head's pseudo-labels

    def on_train_epoch_end(self) -> None:
        self.raise_if_nonfinite()
        # the schedules' weights are Python floats, constant within an epoch: logged once here, since logging a
        # float in a step copies it to the device and syncs the GPU every step
        if self._epoch_weights:
            self.log_dict(self._epoch_weights, on_step=False, on_epoch=True, sync_dist=True)  # equal on every rank
            self._epoch_weights = {}
        last_epoch = self.trainer is not None and self.current_epoch >= self.trainer.max_epochs - 1
        if last_epoch and not self.schedule.in_stage1(self.current_epoch) and self._selected < 0:
            stage2.select_head(self)  # no global gates: chosen after the last epoch (EpochPicks scores it)
        elif last_epoch and self.global_gates_enabled and self.schedule.global_gates_on(self.current_epoch):
            stage2.extend_global_gates(self)  # before the epoch's checkpoint: saved with it
            self.raise_if_nonfinite()  # the NaN guard of those steps, before anything is saved
            guard_trained(self)  # head.global_gates.min_cluster_fidelity: a refit at less overlap where it fails

    # ------------------------------------------------------------------------------------- optimizers
    def configure_optimizers(self):
        lr, min_lr = self.model_cfg["lr"], self.model_cfg["min_lr"]
        steps = max(int(self.trainer.estimated_stepping_batches // max(self.trainer.max_epochs, 1)), 1)
        stage1 = [*self.autoencoder.parameters(), *(self.gating.parameters() if self.gating else [])]
        decay = float(self.model_cfg.get("weight_decay", 0.0))
        opt_pre = (self.optimizer("adamw", stage1, lr["pretrain"], weight_decay=decay) if decay
                   else self.optimizer("adam", stage1, lr["pretrain"]))
        opt_aux = self.aux_optimizer()
        # the head's horizon ends at its freeze (head.lr_until=freeze) only when it freezes there, i.e. when the
        # global gates train (else the head is selected at the end)
        freezes = self.head_cfg.get("freeze_after_selection", False) and self.global_gates_enabled
        until_freeze = self.head_cfg.get("lr_until", "end") == "freeze" and freezes
        head_epochs = self.schedule.head_lr_epochs(self.trainer.max_epochs, until_freeze)
        sched_pre = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt_pre, T_max=steps * self.schedule.stage1_epochs, eta_min=float(min_lr["pretrain"]))
        if not self.head_trains:  # head=kmeans: no head optimizer
            return [opt_pre, opt_aux], [sched_pre]
        opt_head = self.optimizer("adam", self.cluster_heads.parameters(), lr["clustering"])
        sched_head = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt_head, T_max=steps * head_epochs, eta_min=float(min_lr["clustering"]))
        return [opt_pre, opt_head, opt_aux], [sched_pre, sched_head]

    def aux_optimizer(self) -> torch.optim.Optimizer:
        """The auxiliary classifier's and the global gates': SGD at ``model.lr.aux_classifier`` (code) or Adam at
        ``head.global_gates.lr``, whose per-coordinate step moves gates whose regulariser gradient is tiny."""
        gg, params = self.head_cfg["global_gates"], [*self.aux_classifier.parameters(), *self.global_gates.parameters()]
        if gg.get("optimizer", "sgd") == "adam":
            return self.optimizer("adam", params, gg["lr"])
        return self.optimizer("sgd", params, self.model_cfg["lr"]["aux_classifier"])

    def optimizer(self, kind: str, params: Any, lr: float, **options: Any) -> torch.optim.Optimizer:
        """torch's ``adam``, ``adamw`` or ``sgd`` at ``lr``; fused (one kernel per step for all parameters: the same
        update up to float rounding) on a CPU or CUDA device unless ``model.fused_optimizers`` is false."""
        on = bool(self.model_cfg.get("fused_optimizers", True)) and self.device.type in ("cpu", "cuda")
        fused = True if on else None  # None: torch's default implementation
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[kind]
        return cls(params, lr=float(lr), fused=fused, **options)

    # ----------------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["idc_head_selection"] = dict(self.head_selection)
        if self.dec_target is not None:
            checkpoint["idc_dec_target"] = self.dec_target.state_dict()
        # random state, so that a resumed run draws the same gate noise and masks as an uninterrupted one
        checkpoint["idc_rng"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["idc_rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.head_selection = dict(checkpoint.get("idc_head_selection", {}))
        if self.dec_target is not None and "idc_dec_target" in checkpoint:
            self.dec_target.load_state_dict(checkpoint["idc_dec_target"])
        rng = checkpoint.get("idc_rng", {})
        if "cpu" in rng:
            torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
