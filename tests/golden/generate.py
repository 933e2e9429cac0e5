"""Write the golden configs: the resolved config of every combination that exists before issue 19's move
(every ``experiment=`` file, every ``dataset=`` and every ``model=`` with the defaults), without machine paths.

Run once from the repository root: ``python tests/golden/generate.py``. The files are the reference that
``tests/test_golden_configs.py`` compares the new composition with; they are not regenerated after the move.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml
from omegaconf import OmegaConf

HERE = Path(__file__).resolve().parent
DATA_DIR, OUTPUT_DIR, TABLE = "<DATA_DIR>", "<OUTPUT_DIR>", "<TABLE>"


def combinations(config_dir: Path) -> dict[str, list[str]]:
    """golden file (relative to this folder) -> the overrides of that combination."""
    out = {}
    for path in sorted((config_dir / "experiment").rglob("*.yaml")):
        name = path.relative_to(config_dir / "experiment").with_suffix("").as_posix()
        out[f"experiment/{name}.yaml"] = [f"experiment={name}"]
    for group in ("dataset", "model"):
        for path in sorted((config_dir / group).glob("*.yaml")):
            extra = [f"dataset.path='{TABLE}'"] if (group, path.stem) == ("dataset", "table") else []
            out[f"{group}/{path.stem}.yaml"] = [f"{group}={path.stem}", *extra]
    return out


def main() -> None:
    os.environ["IDC_DATA_DIR"] = DATA_DIR
    sys.path.insert(0, str(HERE.parents[1]))
    from idc.config import compose_run, config_dir

    for rel, overrides in combinations(config_dir()).items():
        cfg = compose_run(overrides, OUTPUT_DIR)
        plain = OmegaConf.to_container(cfg, resolve=True)
        target = HERE / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        header = f"# idc-train {' '.join(overrides)}  (resolved; paths replaced by placeholders)\n"
        target.write_text(header + yaml.safe_dump(plain, sort_keys=True))
        print(rel)


if __name__ == "__main__":
    main()
