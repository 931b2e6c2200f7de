"""Evaluation layer: metrics, live evaluation, robustness, pointing game, benchmark, results tables."""
