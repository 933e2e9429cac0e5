"""The ablation table's rows (idc/paper/ablation.yaml) as `idc-paper --table ablation` runs them."""
import argparse
from pathlib import Path

from idc.cli import paper
from idc.methods import ablation_rows, paper_row
from idc.paper import published


def _args(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(table="ablation", schedule="smoke", seeds=2, root=tmp_path, logger="none",
                              launcher="basic", jobs=1, methods=[], overrides=["trainer=cpu"])


def test_every_published_ablation_row_and_the_two_new_ones_are_rows():
    rows = ablation_rows()
    published_rows = set(published()["ablation_mnist60k"]["rows"])
    assert published_rows <= {r.paper for r in rows.values()}
    assert {"IDC w/o gates"} <= {r.paper for r in rows.values()}
    assert ["gates=hard_concrete"] in [list(r.overrides) for r in rows.values()]
    assert ["head=dec"] in [list(r.overrides) for r in rows.values()]
    assert paper_row("idc_kmeans_head") == "IDC features + K-Means"


def test_rows_that_differ_in_stage_2_only_run_after_their_stage_1_and_reuse_it(tmp_path):
    cmds = paper.commands(_args(tmp_path), ["synthetic"])
    subdirs = [next(a for a in c if a.startswith("hydra.sweep.subdir=")).split("=", 1)[1].split("/")[0] for c in cmds]
    assert subdirs == list(ablation_rows())
    for name, cmd in zip(subdirs, cmds):
        owner = ablation_rows()[name].stage1
        given = [a for a in cmd if a.startswith("model.stage1_checkpoint=")]
        if owner == "own":
            assert not given
        else:
            assert subdirs.index(owner) < subdirs.index(name)
            expected = tmp_path.resolve() / "smoke" / "ablation" / owner / "${dataset.name}" / "seed${seed}"
            assert given == [f"model.stage1_checkpoint='{expected}/checkpoints/stage1.ckpt'"]
        assert f"hydra.sweep.dir={tmp_path / 'smoke' / 'ablation'}" in cmd and "trainer=cpu" in cmd


def test_each_row_composes_and_is_named_by_its_runs(cfg_factory):
    from omegaconf import OmegaConf

    from idc.methods import method_of

    for name, row in ablation_rows().items():
        assert method_of(OmegaConf.to_container(cfg_factory(*row.run_overrides()), resolve=True)) == name
