"""Baselines run by the same harness on the same preprocessed tables, scored by the same metrics code."""
from idc.baselines.run import run_baseline

__all__ = ["run_baseline"]
