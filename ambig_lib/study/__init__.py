"""Notebook execution with profiles, staged publishing, the appendix, reproduction checks, JupyterLab."""
