"""Ensemble layer: combining members, the uncertainty rule, fitting and selecting the ensemble on val."""
