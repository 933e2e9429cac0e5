"""The wheel carries every module and every config, so an installed `idc-train` finds its configs."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from idc.config import config_dir

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_the_one_pyproject_gives():
    import tomllib

    import idc

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == idc.__version__


def test_config_dir_is_the_source_tree_in_a_checkout():
    assert config_dir() == ROOT / "configs"


@pytest.mark.slow
def test_wheel_contains_all_modules_and_configs(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = tmp_path.glob("idc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "idc").rglob("*.py")}
    configs = {"idc/configs/" + p.relative_to(ROOT / "configs").as_posix() for p in (ROOT / "configs").rglob("*.yaml")}
    assert "idc/configs/train.yaml" in configs
    assert modules - names == set() and configs - names == set()
    assert "idc/paper/published.yaml" in names
