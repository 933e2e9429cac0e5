"""Checkpoints saved by earlier versions (before the module's split) still load, with the same predictions."""
from pathlib import Path

import numpy as np
import torch

from idc.evaluate import load_module
from idc.inference import predict
from idc.schedule import Schedule

#: saved by the code of commit 0380776 (digits, trainer=smoke, 2 restarts, k-means start), optimizer state
#: stripped, with what it predicted for 16 seeded rows under "expected"
FIXTURE = Path(__file__).parent / "fixtures" / "idc_v0_digits_smoke.pt"


def test_a_checkpoint_of_an_earlier_version_loads_with_its_records_and_predictions(tmp_path):
    saved = torch.load(FIXTURE, weights_only=True)
    expected = saved.pop("expected")
    (tmp_path / "checkpoints").mkdir()
    torch.save(saved, tmp_path / "checkpoints" / "last.ckpt")
    module, selections = load_module(tmp_path)
    assert module.state_dict().keys() == saved["state_dict"].keys()
    assert module.schedule == Schedule(ungated_epochs=2, stage1_epochs=4, head_epochs=1, stage2_epochs=4)
    assert selections == {"silhouette_selected_epoch": saved["idc_best_by_silhouette"],
                          "label_selected_best_epoch": saved["idc_best_by_label"]}
    assert module.head_selection == saved["idc_head_selection"] and module._selected == 1
    pred = predict(module, expected["X"].numpy())
    np.testing.assert_array_equal(pred["clusters"], expected["clusters"].numpy())
    np.testing.assert_array_equal(pred["local_gates"], expected["gates"].numpy())
    np.testing.assert_allclose(pred["embeddings"], expected["embeddings"].numpy(), rtol=1e-6, atol=1e-7)
