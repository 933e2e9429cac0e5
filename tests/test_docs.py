"""The README stays short, and no link in the README or docs/ points at a file the repository does not ship."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_README_LINES = 150
#: a Markdown link or image: [text](target) or ![alt](target), target up to a space or ")"
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(page: Path) -> list[str]:
    """Targets of the page's links that are not URLs or in-page anchors, without their ``#anchor``."""
    targets = (m.group(1) for m in LINK.finditer(page.read_text(encoding="utf-8")))
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_readme_is_at_most_150_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move details into docs/"


def test_every_relative_link_points_at_a_file_that_exists():
    assert (ROOT / "docs").is_dir() and len(pages()) > 1
    checked, broken = 0, []
    for page in pages():
        for target in relative_links(page):
            checked += 1
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert checked >= 5, "the link pattern found almost no links: is it still right?"
    assert not broken, f"links to files the repository does not ship: {broken}"


def _uninstalled_launcher(arg: str, args: list[str]) -> bool:
    """``arg`` chooses or sets a Hydra launcher whose plugin is an optional extra not installed here (submitit,
    ray: ``idc[launchers]``); the rest of the example is still checked."""
    import importlib.util

    choice = next((a.split("=", 1)[1] for a in args if a.startswith("hydra/launcher=")), None)
    if choice is None or choice in ("basic", "joblib") or not arg.startswith(("hydra/launcher=", "hydra.launcher.")):
        return False
    plugin = {"submitit": "hydra_plugins.hydra_submitit_launcher", "ray": "hydra_plugins.hydra_ray_launcher"}
    module = next((m for prefix, m in plugin.items() if choice.startswith(prefix)), None)
    return module is not None and importlib.util.find_spec(module) is None


def example_overrides() -> list[tuple[str, list[str]]]:
    """The overrides of every ``idc-train`` / ``idc-search`` line in the pages' bash blocks: a multirun's first job
    (``-m`` dropped, the first value of each sweep), without ``--cfg job``."""
    import shlex

    examples = []
    for page in pages():
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                if words[:1] == ["srun"]:  # the command SLURM starts once per task
                    words = words[1:]
                if not words or words[0] not in ("idc-train", "idc-search"):
                    continue
                args = [w for w in words[1:] if w not in ("-m", "--cfg", "job") and not w.startswith("seed=range")]
                args = [a for a in args if not _uninstalled_launcher(a, args)]
                args = [a.split(",")[0] if "," in a and "[" not in a else a for a in args]
                examples.append((f"{page.name}: {line.strip()}", args))
    return examples


def test_every_command_line_example_composes_and_validates():
    from idc.config import compose

    examples = example_overrides()
    assert len(examples) >= 20, "the README and docs/ lost their idc-train examples, or the pattern broke"
    failed = []
    for where, args in examples:
        try:
            compose(args)
        except Exception as err:  # noqa: BLE001 - any failure is a wrong example; name it
            failed.append(f"{where}\n    {type(err).__name__}: {str(err).splitlines()[0]}")
    assert not failed, "examples that do not compose:\n" + "\n".join(failed)
