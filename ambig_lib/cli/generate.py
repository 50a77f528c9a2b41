"""Command line for the generation stage (``ambig-generate`` / ``python -m ambig_lib.cli.generate``).

Example::

    python -m ambig_lib.cli.generate --teacher qwen2.5-coder-1.5b --prompt length_matched --limit 10

Backend options go through ``--option key=value`` (values parsed as YAML: ``n_ctx=4096``, ``progress=false``).
A partial or otherwise non-canonical run (``--limit``, ``--seed``, sampling) is written under its own name in
``variants/`` (see ``generation.output_paths``); an existing set with other settings is only replaced with
``--force``. Ctrl-C stops with one line; every answer so far is cached, so the same command resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.generation.prompts import PROMPT_STYLES
from ambig_lib.generation.stage import (
    GenerationConfig,
    check_replaceable,
    generate_set,
    generation_units,
    length_summary,
    output_paths,
)
from ambig_lib.teachers.cache import CachedTeacher


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``--option key=value`` items as backend keyword arguments (values parsed as YAML); shared by the CLIs."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise AmbigError(f"--option {item!r}: expected key=value (for example n_ctx=4096).")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise AmbigError(f"--option {item!r}: the value is not valid YAML ({str(exc).splitlines()[0]}).") from None
    return options


def interrupted_message(cache: CachedTeacher | None) -> str:
    """The one line printed on Ctrl-C: how many answers are safely cached, and that a re-run resumes."""
    if cache is None:
        return "interrupted before any model call; nothing to resume."
    stats = cache.stats()
    return (f"interrupted; {stats['stored']} new answers cached in this run ({stats['entries']} in {cache.path}), "
            "re-run the same command to resume.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ambig-generate", description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", default="qwen2.5-coder-1.5b",
                        help="teacher name from the registry (default: qwen2.5-coder-1.5b)")
    parser.add_argument("--backend", default=None, help="backend (llamacpp, openai, openai-batch, vllm); "
                        "default: the teacher's registered backend")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="backend option, repeatable (value parsed as YAML)")
    parser.add_argument("--prompt", default="length_matched", choices=sorted(PROMPT_STYLES))
    parser.add_argument("--limit", type=int, default=None, help="first N topics (or real seeds for real_seeded; default: all topics, 1000 seeds)")
    parser.add_argument("--topics-file", type=Path, default=None, help="a topics file instead of the packaged list")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=None, help="default: the teacher's registered value")
    parser.add_argument("--top-p", type=float, default=None, help="default: the teacher's registered value")
    parser.add_argument("--max-tokens", type=int, default=None, help="default: the teacher's registered value")
    parser.add_argument("--max-attempts", type=int, default=GenerationConfig.max_attempts)
    parser.add_argument("--batch-size", type=int, default=GenerationConfig.batch_size,
                        help="topics sent to the teacher per call (raise it for HTTP/batch backends)")
    parser.add_argument("--near-duplicate-threshold", type=float,
                        default=GenerationConfig.near_duplicate_threshold)
    parser.add_argument("--out-dir", type=Path, default=None, help="default: data/synthetic")
    parser.add_argument("--offline", action="store_true", help="answer only from the response cache")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing set even though it was generated with other settings")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stage and print the counts, word lengths and output paths."""
    args = build_parser().parse_args(argv)
    cache: CachedTeacher | None = None
    try:
        from ambig_lib.teachers.registry import build_teacher

        topics = generation_units(args.prompt, args.limit, args.topics_file)
        config = GenerationConfig.for_teacher(
            args.teacher, args.prompt, topics, seed=args.seed, temperature=args.temperature, top_p=args.top_p,
            max_tokens=args.max_tokens, max_attempts=args.max_attempts, batch_size=args.batch_size,
            near_duplicate_threshold=args.near_duplicate_threshold)
        options = parse_options(args.option)
        out_dir = args.out_dir if args.out_dir is not None else paths.synthetic_dir()
        files = output_paths(config, out_dir)
        check_replaceable(config, files, args.force)  # before loading a model
        teacher = build_teacher(args.teacher, backend=args.backend, **options)
        cache = CachedTeacher(teacher, files["cache"], offline=args.offline)
        result = generate_set(cache, config, out_dir=out_dir, offline=args.offline,
                              progress=not args.no_progress, force=args.force)
    except AmbigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted_message(cache), file=sys.stderr)
        return 130
    print(json.dumps(result.counts, indent=2))
    print(length_summary(result.frame).to_string())
    print(json.dumps({"this_run": result.provenance["this_run"]}, indent=2))
    print(f"wrote {result.tsv_path}\n      {result.provenance_path}\n      {result.failures_path}\n"
          f"cache {result.cache_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
