"""idc: Interpretable Deep Clustering for tabular data (Svirsky & Lindenbaum, ICML 2024)."""
__version__ = "0.1.0"
