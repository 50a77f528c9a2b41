"""Re-run the study in a scratch folder and list what differs.

``ambig reproduce``: re-run the study into a scratch folder and list the committed artefacts that differ.

Declared timing and machine fields are ignored (``ambig_lib.study.reproduce``: ``MACHINE_FILES``,
``TIMING_KEYS``, ``TIMING_PATTERNS``); everything else must be byte-identical. The checkout is never written to.
Exit status: 0 when nothing differs, 1 when something does, 2 for a usage error.

Example::

    ambig reproduce                     # re-run the whole study into a scratch folder and compare
    ambig reproduce --only 02 04        # selected notebooks
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ambig_lib.core.io import write_json_atomic
from ambig_lib.study.reproduce import report, reproduce


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="default", help="a profile whose outputs are committed (default)")
    parser.add_argument("--only", nargs="*", help="notebooks to run, by prefix (02) or stem; default: all")
    parser.add_argument("--scratch", type=Path, default=None, help="scratch folder (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (default: removed when "
                        "nothing differs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the differences as JSON here")


def run(args: argparse.Namespace) -> int:
    """Reproduce, report, and exit 1 when a committed file differs."""
    differences, summary = reproduce(args.profile, args.only, args.scratch)
    report(differences, summary)
    if args.json is not None:
        write_json_atomic(args.json, {"summary": summary, "differences": [d.__dict__ for d in differences]})
    if not summary["differs"] and not args.keep and args.scratch is None:
        shutil.rmtree(summary["scratch"], ignore_errors=True)
    else:
        print(f"[reproduce] scratch folder kept: {summary['scratch']}")
    return 1 if summary["differs"] else 0
