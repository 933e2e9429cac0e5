"""The schedule value: counts and a saved run's indices give the same schedule; impossible ones are refused."""
import pytest

from idc.schedule import Schedule

OLD = {"non_gated_epochs": 1, "pretrain_epochs": 3, "global_gates_start": 5, "epochs": 8}  # trainer=smoke
NEW = {"ungated_epochs": 2, "stage1_epochs": 4, "head_epochs": 1, "stage2_epochs": 4, "eval_every": 2}


def test_counts_and_saved_indices_give_the_same_schedule():
    old, new = Schedule.from_mapping(OLD), Schedule.from_mapping(NEW)
    assert (old.ungated_epochs, old.stage1_epochs, old.head_epochs, old.stage2_epochs) == (2, 4, 1, 4)
    assert new.epochs == 8 and new.global_gates_start == 5 and new.eval_every == 2
    assert [new.in_stage1(e) for e in (3, 4)] == [True, False] and [new.gates_on(e) for e in (1, 2)] == [False, True]
    assert new.gate_reg_weight(1, 1.0) == 0.0 and new.gate_reg_weight(3, 1.0) == pytest.approx(1.0)
    assert new.head_lr_epochs(8, until_freeze=True) == 1 and new.head_lr_epochs(8, until_freeze=False) == 4


@pytest.mark.parametrize("change", [{"ungated_epochs": 4}, {"head_epochs": 0}, {"head_epochs": 5}, {"stage2_epochs": 1}])
def test_impossible_schedules_are_refused_naming_the_rule(change):
    with pytest.raises(ValueError, match="schedule needs 0 <= ungated_epochs < stage1_epochs"):
        Schedule.from_mapping({**NEW, **change})


def test_a_stage1_only_schedule_is_allowed_only_without_a_clustering_head():
    counts = {**NEW, "head_epochs": 0, "stage2_epochs": 0}
    assert Schedule.from_mapping(counts, needs_stage2=False).epochs == 4
    with pytest.raises(ValueError, match="stage2_epochs >= 2"):
        Schedule.from_mapping(counts)
    with pytest.raises(ValueError, match="a schedule needs the keys"):
        Schedule.from_mapping({"epochs": 8})
