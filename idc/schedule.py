"""The two-stage schedule as a value: which stage an epoch is in, the regularisers' weights and the learning-rate
horizons (paper Sec. 4.2-4.3; Table 7 gives the epochs of each stage).

Epochs are 0-based: stage 1 is ``0 .. stage1_epochs - 1`` with the local gates off for the first
``ungated_epochs``; stage 2 follows for ``stage2_epochs``, the first ``head_epochs`` of which train the clustering
head alone before the global gates start.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the count keys of the ``schedule`` config node, and the index keys of ``model.schedule`` (saved runs)
COUNT_KEYS = ("ungated_epochs", "stage1_epochs", "head_epochs", "stage2_epochs")
INDEX_KEYS = ("non_gated_epochs", "pretrain_epochs", "global_gates_start", "epochs")
REG_SCHEDULES = ("constant", "cosine")


def cosine_increase(epoch: int, start: int, end: int, max_value: float) -> float:
    """Weight rising from 0 at ``start`` to ``max_value`` at ``end`` on a half cosine (code's lambda(t))."""
    if end <= start:
        return max_value
    progress = min(max((epoch - start) / (end - start), 0.0), 1.0)
    return 0.5 * max_value * (1.0 - math.cos(math.pi * progress))


@dataclass(frozen=True)
class Schedule:
    """Epoch counts of the two stages; build it with :meth:`from_mapping`.

    ``stage2_epochs == head_epochs == 0`` is a stage-1-only schedule (``method=ae_kmeans``: K-means on the stage-1
    embeddings replaces the head). Index-key schedules of saved runs may start the global gates after the last
    epoch (``head_epochs > stage2_epochs``: no global gates)."""

    ungated_epochs: int
    stage1_epochs: int
    head_epochs: int
    stage2_epochs: int
    eval_every: int = 1

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], needs_stage2: bool = True) -> "Schedule":
        """From the ``schedule`` node (counts, :data:`COUNT_KEYS`) or a saved run's ``model.schedule`` (0-based
        indices, :data:`INDEX_KEYS`); ``needs_stage2``: the clustering head trains, so stage 2 must exist."""
        if all(k in m for k in COUNT_KEYS):
            s = cls(*(int(m[k]) for k in COUNT_KEYS), int(m.get("eval_every", 1)))
            stage1_only = s.stage2_epochs == s.head_epochs == 0 and not needs_stage2
            if not (0 <= s.ungated_epochs < s.stage1_epochs) or not (
                stage1_only or 1 <= s.head_epochs <= s.stage2_epochs and s.stage2_epochs >= 2
            ):
                raise ValueError(
                    "schedule needs 0 <= ungated_epochs < stage1_epochs, 1 <= head_epochs <= stage2_epochs and "
                    f"stage2_epochs >= 2; got {', '.join(f'{k}={m[k]}' for k in COUNT_KEYS)}")
        elif all(k in m for k in INDEX_KEYS):
            t0, t1, start, epochs = (int(m[k]) for k in INDEX_KEYS)
            if not (0 <= t0 < t1 < start) or (needs_stage2 and epochs <= t1 + 1):
                raise ValueError(
                    f"model.schedule needs 0 <= non_gated_epochs < pretrain_epochs < global_gates_start and "
                    f"pretrain_epochs < epochs - 1 (the clustering head trains after pretrain_epochs, and is chosen "
                    f"at global_gates_start); got {t0}, {t1}, {start}, {epochs}")
            s = cls(t0 + 1, t1 + 1, start - t1 - 1, max(epochs - t1 - 1, 0), int(m.get("eval_every", 1)))
        else:
            raise ValueError(f"a schedule needs the keys {COUNT_KEYS} (or a saved run's {INDEX_KEYS}); got {sorted(m)}")
        if s.eval_every < 1:
            raise ValueError(f"schedule.eval_every must be >= 1, got {s.eval_every}")
        return s

    @property
    def epochs(self) -> int:
        return self.stage1_epochs + self.stage2_epochs

    @property
    def global_gates_start(self) -> int:
        """The first epoch that trains the global gates (the head is selected at its start)."""
        return self.stage1_epochs + self.head_epochs

    def phases(self, global_gates: bool = True) -> list[tuple[int, str]]:
        """``(first epoch, name)`` of the parts of a run that train at different paces: stage 1, stage 2's head
        alone, stage 2 with the global gates (``global_gates=False``: stage 2 as one part); those without epochs
        left out."""
        starts = [(0, "stage 1"), (self.stage1_epochs, "stage 2's head phase" if global_gates else "stage 2")]
        if global_gates:
            starts.append((self.global_gates_start, "stage 2's global-gate phase"))
        ends = [start for start, _ in starts[1:]] + [self.epochs]
        return [(start, name) for (start, name), end in zip(starts, ends) if end > start]

    def in_stage1(self, epoch: int) -> bool:
        return epoch < self.stage1_epochs

    def gates_on(self, epoch: int) -> bool:
        """The local gates are on (and regularised) from ``ungated_epochs`` on."""
        return epoch >= self.ungated_epochs

    def global_gates_on(self, epoch: int) -> bool:
        return epoch >= self.global_gates_start

    def gate_reg_weight(self, epoch: int, max_value: float) -> float:
        """The local gates' regulariser weight: rising on a half cosine from the last ungated epoch to the last
        epoch of stage 1 (the code's lambda(t))."""
        return cosine_increase(epoch, self.ungated_epochs - 1, self.stage1_epochs - 1, max_value)

    def global_reg_weight(self, epoch: int, max_value: float, shape: str = "constant") -> float:
        """The global gates' regulariser weight: ``constant`` (official code) or rising on a half cosine from
        the first global-gate epoch to the last epoch (the paper's increasing lambda^g_t, Sec. 4.3)."""
        if shape == "constant":
            return max_value
        if shape == "cosine":
            return cosine_increase(epoch, self.global_gates_start, self.epochs - 1, max_value)
        raise ValueError(f"head.global_gates.reg_schedule must be one of {REG_SCHEDULES}, got {shape!r}")

    def head_lr_epochs(self, max_epochs: int, until_freeze: bool) -> int:
        """The clustering head's cosine horizon in epochs: all of stage 2 (``max_epochs`` in all), or only the
        epochs before a head frozen at the global gates' start stops training (``until_freeze``)."""
        if until_freeze:
            return max(self.head_epochs, 1)
        return max(int(max_epochs) - self.stage1_epochs, 1)


def stage1_only_schedule(cfg: Any) -> None:
    """With ``model.embedding_clusterer`` (``method=ae_kmeans``) K-means on the stage-1 embeddings replaces the
    clustering head, so the run ends with stage 1 whatever schedule was chosen (in place)."""
    if not cfg.model.get("embedding_clusterer"):
        return
    cfg.schedule.stage2_epochs = 0  # no stage 2: no head to train,
    cfg.schedule.head_epochs = 0  # so no global gates either
    cfg.schedule.epochs = int(cfg.schedule.stage1_epochs)  # also when a total was given as a number
