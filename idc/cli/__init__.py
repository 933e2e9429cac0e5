"""Thin command-line entry points; the only place (with the estimator) that knows Hydra and Lightning both."""
