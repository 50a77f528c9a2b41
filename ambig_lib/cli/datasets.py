"""Teacher sets as Hugging Face datasets: list, export, push.

``ambig datasets``: teacher sets as Hugging Face datasets: list them, export one, push it to the hub.

``export`` writes ``data/train-00000-of-00001.parquet`` and a dataset card (``README.md``: provenance, counts,
the shortcut audit of notebook 02, licence, citation); ``push`` uploads an exported folder (needs ``HF_TOKEN``).

Example::

    ambig datasets list                                   # every teacher set and its rows
    ambig datasets export seed/gpt-4.1 --out hf/gpt-4.1   # parquet + dataset card
    HF_TOKEN=... ambig datasets push hf/gpt-4.1 --repo-id USER/ambig-gpt-4.1
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ambig_lib.data.teacher_sets import teacher_set_names
from ambig_lib.inspection.hf_datasets import (
    CARD_NAME,
    PARQUET_NAME,
    export_dataset,
    push_dataset,
    teacher_dataset,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="{list,export,push}", required=True)
    actions.add_parser("list", help="the registered teacher sets and their row counts")
    export = actions.add_parser("export", help="write a dataset folder (parquet + dataset card)")
    export.add_argument("name", help="a registered teacher set (seed/gpt-4.1, generated/<stem>) or a TSV path")
    export.add_argument("--out", type=Path, required=True, help="the dataset folder to write")
    push = actions.add_parser("push", help="upload an exported folder to the hub (needs HF_TOKEN)")
    push.add_argument("folder", type=Path)
    push.add_argument("--repo-id", required=True, help="USER/NAME of the dataset repository")
    push.add_argument("--private", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in teacher_set_names():
            print(f"{name}\t{teacher_dataset(name).num_rows}")
    elif args.action == "export":
        folder = export_dataset(args.name, args.out)
        print(f"wrote {folder / PARQUET_NAME}\n      {folder / CARD_NAME}")
    else:
        print(push_dataset(args.folder, args.repo_id, private=args.private))
    return 0
