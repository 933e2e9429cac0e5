"""idc: Interpretable Deep Clustering for tabular data (Svirsky & Lindenbaum, ICML 2024)."""
from typing import Any

__version__ = "0.1.0"
__all__ = ["IDC"]


def __getattr__(name: str) -> Any:  # lazy: `import idc` stays light for the command-line tools
    if name == "IDC":
        from idc.estimator import IDC

        return IDC
    raise AttributeError(f"module 'idc' has no attribute {name!r}")
