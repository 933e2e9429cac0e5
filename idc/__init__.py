"""idc: Interpretable Deep Clustering for tabular data (Svirsky & Lindenbaum, ICML 2024)."""
from typing import Any

from idc.version import __version__
__all__ = ["IDC", "__version__"]


def __getattr__(name: str) -> Any:  # lazy: `import idc` stays light for the command-line tools
    if name == "IDC":
        from idc.estimator import IDC

        return IDC
    raise AttributeError(f"module 'idc' has no attribute {name!r}")
