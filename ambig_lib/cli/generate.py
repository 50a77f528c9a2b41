"""A teacher LLM writes a synthetic teacher set.

``ambig generate``: a teacher writes a synthetic teacher set (the generation stage, notebook 01).

Backend options go through ``--option key=value`` (values parsed as YAML: ``n_ctx=4096``, ``progress=false``).
A partial or otherwise non-canonical run (``--limit``, ``--seed``, sampling) is written under its own name in
``variants/`` (see ``generation.output_paths``); an existing set with other settings is only replaced with
``--force``. Ctrl-C stops with one line; every answer so far is cached, so the same command resumes.

Example::

    ambig generate --teacher qwen2.5-coder-1.5b --prompt length_matched --limit 10
    ambig generate --prompt length_matched --limit 3 --offline      # answered from the committed cache
    ambig generate --teacher gpt-4.1 --backend openai-batch --prompt seed   # OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ambig_lib.cli import common
from ambig_lib.core import paths
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
from ambig_lib.teachers.registry import build_teacher


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", default="qwen2.5-coder-1.5b",
                        help="teacher name from the registry (default: qwen2.5-coder-1.5b)")
    parser.add_argument("--backend", default=None, help="backend (llamacpp, openai, openai-batch, vllm); "
                        "default: the teacher's registered backend")
    common.add_option(parser)
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
    common.add_offline(parser, "; teacher answers only from the response cache")
    common.add_threads(parser)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing set even though it was generated with other settings")


def run(args: argparse.Namespace) -> int:
    """Run the stage and print the counts, word lengths and output paths."""
    cache: CachedTeacher | None = None
    try:
        topics = generation_units(args.prompt, args.limit, args.topics_file)
        config = GenerationConfig.for_teacher(
            args.teacher, args.prompt, topics, seed=args.seed, temperature=args.temperature, top_p=args.top_p,
            max_tokens=args.max_tokens, max_attempts=args.max_attempts, batch_size=args.batch_size,
            near_duplicate_threshold=args.near_duplicate_threshold)
        options = common.parse_options(args.option)
        out_dir = args.out_dir if args.out_dir is not None else paths.synthetic_dir()
        files = output_paths(config, out_dir)
        check_replaceable(config, files, args.force)  # before loading a model
        teacher = build_teacher(args.teacher, backend=args.backend, **options)
        cache = CachedTeacher(teacher, files["cache"], offline=args.offline)
        result = generate_set(cache, config, out_dir=out_dir, offline=args.offline,
                              progress=not args.no_progress, force=args.force)
    except KeyboardInterrupt:
        raise common.Interrupted(common.interrupted_message(cache)) from None
    print(json.dumps(result.counts, indent=2))
    print(length_summary(result.frame).to_string())
    print(json.dumps({"this_run": result.provenance["this_run"]}, indent=2))
    print(f"wrote {result.tsv_path}\n      {result.provenance_path}\n      {result.failures_path}\n"
          f"cache {result.cache_path}")
    return 0
