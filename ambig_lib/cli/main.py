"""``ambig`` / ``python -m ambig_lib``: one parser with a subcommand per stage (see :mod:`ambig_lib.cli`).

Nothing heavy is imported to build the parser: ``ambig --help`` does not import torch; subcommands that need
torch, transformers or vllm import them when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ambig_lib.cli import (
    common,
    datasets,
    distil,
    evaluate,
    export,
    generate,
    inspect,
    latency,
    llm_direct,
    predict,
    reproduce,
    strategies,
    study,
    train,
)

#: Subcommands in pipeline order, then the study's tools.
COMMANDS = {"generate": generate, "inspect": inspect, "train": train, "evaluate": evaluate,
            "llm-direct": llm_direct, "export": export, "distil": distil, "predict": predict, "latency": latency,
            "study": study, "reproduce": reproduce, "datasets": datasets, "strategies": strategies}
#: Subcommands whose options may follow their positional arguments (``ambig predict DIR "q" --format jsonl``).
INTERMIXED = ("predict",)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``ambig`` parser and its subparsers by name."""
    parser = common.Parser(
        prog=common.PROG,
        description="Query-ambiguity detection by distillation: one subcommand per stage of the pipeline.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=common.example_epilog(
            "ambig generate --prompt length_matched --limit 3 --offline",
            "ambig train --students minilm --teachers published --seeds 0",
            "ambig study --profile quick",
            notes="Run 'ambig <subcommand> --help' for each subcommand's options and an example. Exit status: "
                  "0 success, 2 user error (one line), 1 internal error."))
    subparsers = parser.add_subparsers(dest="command", metavar="<subcommand>", required=True)
    subs = {}
    for name, module in COMMANDS.items():
        sub = common.add_subcommand(subparsers, name, module.__doc__ or name)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
        subs[name] = sub
    return parser, subs


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` (``SystemExit`` on ``--help`` or a usage error, as argparse does)."""
    parser, subs = build_parser()
    if argv and argv[0] in INTERMIXED:
        args = subs[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ambig`` with ``argv`` (default: the process arguments); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, one line on stderr already)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return common.run_command(args.run, args)


if __name__ == "__main__":
    raise SystemExit(main())
