"""Build the counterfactual set and the deletion controls.

``ambig strategies``: build the transfer study's rule-based sets (no model call, seconds).

Writes ``strategy/rules_counterfactual`` (rule-based edits of the specific queries of the published and
Zef-CNP sets) and, for every pair set in ``data/synthetic/strategies/``, its random-deletion control
``strategy/<stem>-control`` (missing or older than its set; all of them with ``--rebuild-controls``). The LLM
strategies (``taxonomy``, ``real_seeded``) come from ``ambig generate --out-dir data/synthetic/strategies``.

Example::

    ambig strategies                      # counterfactual set + every missing control
    ambig generate --prompt taxonomy --out-dir data/synthetic/strategies --option n_threads=1
"""

from __future__ import annotations

import argparse
import json

from ambig_lib.core import paths
from ambig_lib.generation.strategies import build_all


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rebuild-controls", action="store_true", help="rebuild every control, not only the "
                        "missing or outdated ones")


def run(args: argparse.Namespace) -> int:
    """Build the sets; print what was written."""
    for tsv in build_all(seed=args.seed, rebuild_controls=args.rebuild_controls):
        record = json.loads(tsv.with_name(tsv.name.replace(".tsv", ".provenance.json")).read_text("utf-8"))
        print(f"{paths.portable_path(tsv.resolve())}: {record['rows']} rows, mean words {record['mean_words']}")
    return 0
