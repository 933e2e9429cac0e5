"""The package's version: one place (``pyproject.toml`` says the same, checked by tests/test_packaging.py)."""
__version__ = "0.1.0"
