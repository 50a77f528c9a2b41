"""Metrics, results tables (the one writer of evaluation.csv), figures and the transfer study."""
