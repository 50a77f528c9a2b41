"""Run the study's notebooks with papermill (run_all.sh).

``ambig study``: run the study's notebooks headlessly with papermill, parameters from a profile.

This is what ``./run_all.sh`` calls. Executed notebooks and their HTML go to ``results/notebooks/``; tables and
figures to ``results/tables|figures/``. Each notebook writes to a staging copy of the results, published only
when it succeeds. A failing notebook stops the run: one line naming the notebook and the cell, exit status 1
(the executed copy holds the traceback); a wrong profile, ``--only`` or ``--set`` is a usage error (exit 2).

Example::

    ambig study                                  # the offline default profile (no API key, no GPU)
    ambig study --profile quick                  # a fast smoke run
    ambig study --only 04 --set 04:ceilings=false --set seeds=[0]   # override parameters (YAML values)
    ambig study --list                           # the notebooks and the parameters each gets
"""

from __future__ import annotations

import argparse
import sys
import time

from ambig_lib.cli.common import add_offline, add_threads
from ambig_lib.study.runner import (
    NotebookFailedError,
    load_profile,
    parse_override,
    plan_parameters,
    run_study,
    select_notebooks,
    study_notebooks,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="default", help="profile name in profiles/ or a YAML path")
    parser.add_argument("--only", nargs="+", help="notebooks to run, by prefix (02) or stem")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML rendering")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="[NB:]KEY=VALUE",
                        help="override a notebook parameter (value parsed as YAML), repeatable; e.g. "
                             "--set 03:seeds=[0] --set student=mpnet")
    parser.add_argument("--list", action="store_true", help="list the notebooks and their parameters")
    parser.add_argument("--lab", action="store_true", help="open the notebooks in JupyterLab instead")
    add_offline(parser, "; the notebooks' kernels inherit it")
    add_threads(parser, "CPU threads for torch and llama.cpp in the notebooks' kernels (default: the free cores)")


def run(args: argparse.Namespace) -> int:
    """Open JupyterLab, list the plan, or run the notebooks and print their timings."""
    if args.lab:
        from ambig_lib.study.lab import open_lab  # starts a server: only for --lab

        return open_lab()
    overrides = [parse_override(text) for text in args.overrides]
    if args.list:
        chosen = select_notebooks(study_notebooks(), args.only)
        planned = plan_parameters(load_profile(args.profile), chosen, overrides)
        for nb in chosen:
            print(f"{nb.stem}: {planned[nb.stem]}")
        return 0
    start = time.perf_counter()
    try:
        timings = run_study(args.profile, args.only, html=not args.no_html, overrides=overrides)
    except NotebookFailedError as exc:
        print(f"[run_all] FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    total = time.perf_counter() - start
    for stem, seconds in timings:
        print(f"[run_all] {stem:28s} {seconds:8.1f} s")
    print(f"[run_all] total {total:.1f} s")
    return 0
