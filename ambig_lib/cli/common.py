"""What every ``ambig`` subcommand shares: the parser class, ``--option`` / ``--offline`` / ``--threads``, the
``--help`` example, and one error handling for all of them.

Exit status: 0 on success; 2 on a user error (one line ``error: ...`` on stderr naming the problem and the fix,
no traceback); 130 on Ctrl-C (one line); 1 on an internal error (the traceback, which is a bug to report).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import yaml

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError

if TYPE_CHECKING:
    from ambig_lib.teachers.cache import CachedTeacher

PROG = "ambig"
#: Environment variables ``--threads`` sets for the command: torch (students) and llama.cpp (teachers).
THREAD_ENVS = ("AMBIG_TORCH_THREADS", "AMBIG_LLAMA_THREADS")


class UsageError(AmbigError):
    """A command line that cannot run as given (the message says what to change)."""


class Interrupted(Exception):  # noqa: N818 - a signal, not an error
    """Ctrl-C, with the one line to print (what was kept and how to resume)."""


class Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors: ``error: ambig train: argument --seeds: ... (see ambig train --help)``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def example_epilog(*examples: str, notes: str = "") -> str:
    """The ``--help`` epilog: ``Example:`` and the command lines (verbatim), then optional notes."""
    text = "Example:\n" + "\n".join(f"  {line}" for line in examples)
    return f"{text}\n\n{notes.strip()}" if notes.strip() else text


#: Where a subcommand module's docstring lists its example command lines (indented, one per line).
EXAMPLE_MARKER = "Example::"


def split_docstring(doc: str) -> tuple[str, str, list[str]]:
    """A subcommand module's docstring as (summary: its first line, description: the rest up to ``Example::``,
    the example command lines after it)."""
    text, _, examples = (doc or "").partition(EXAMPLE_MARKER)
    summary, _, description = text.strip().partition("\n")
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    return summary.strip().rstrip("."), description.strip(), lines


def add_subcommand(subparsers: Any, name: str, doc: str, notes: str = "") -> argparse.ArgumentParser:
    """A subparser from a subcommand module's docstring: its first line is the summary (in ``ambig --help``),
    the rest the description, its ``Example::`` lines the epilog."""
    summary, description, examples = split_docstring(doc)
    shown = re.sub(r":\w+:`([^`]+)`", r"\1", description or summary).replace("``", "")  # RST -> text
    return subparsers.add_parser(name, help=summary, description=shown,
                                 epilog=example_epilog(*examples, notes=notes),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


# ------------------------------------------------------------------------------------------ shared options


def add_option(parser: argparse.ArgumentParser, help: str = "backend option, repeatable (value parsed as YAML), "
               "e.g. n_ctx=4096 or base_url=http://host:8000/v1") -> None:
    """``--option KEY=VALUE`` (repeatable), parsed by :func:`parse_options` when the command runs."""
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_offline(parser: argparse.ArgumentParser, extra: str = "") -> None:
    """``--offline``: no network for this command (``AMBIG_OFFLINE=1``: models and data from local caches)."""
    parser.add_argument("--offline", action="store_true",
                        help="no network: models and data from local caches only (AMBIG_OFFLINE=1)" + extra)


def add_threads(parser: argparse.ArgumentParser, help: str | None = None, default: int | None = None) -> None:
    """``--threads N``: CPU threads of torch and llama.cpp (default: the free cores)."""
    parser.add_argument("--threads", type=positive_int, default=default, metavar="N",
                        help=help or "CPU threads for torch and llama.cpp (AMBIG_TORCH_THREADS, "
                                     "AMBIG_LLAMA_THREADS; default: the free cores)")


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``--option key=value`` items as keyword arguments (values parsed as YAML); a malformed one is a
    :class:`UsageError` naming it."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"--option {item!r}: expected key=value (for example n_ctx=4096).")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UsageError(f"--option {item!r}: the value is not valid YAML ({str(exc).splitlines()[0]}); "
                             "quote it or fix the value.") from None
    return options


def dataclass_options(cls: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``--option`` values as keyword arguments of the dataclass ``cls``: names checked against its fields,
    values coerced to the field's type where YAML reads them otherwise (``3e-5`` is a string in YAML 1.1)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise UsageError(f"--option {', '.join(unknown)}: not a {cls.__name__} field; choose from "
                         f"{', '.join(sorted(fields))}.")
    coerced: dict[str, Any] = {}
    for key, value in options.items():
        annotation = str(fields[key].type)
        if "float" in annotation and (isinstance(value, str) or type(value) is int):
            try:
                value = float(value)
            except ValueError:
                raise UsageError(f"--option {key}={value!r}: expected a number ({cls.__name__}.{key} is "
                                 f"{annotation}).") from None
        elif "tuple" in annotation and isinstance(value, list):
            value = tuple(value)
        coerced[key] = value
    return coerced


@contextmanager
def command_environment(args: argparse.Namespace) -> Iterator[None]:
    """``--offline`` and ``--threads`` as the environment the library reads, restored when the command ends
    (so ``main`` can be called more than once in one process)."""
    wanted: dict[str, str] = {}
    if getattr(args, "offline", False):
        wanted[paths.OFFLINE_ENV] = "1"
    threads = getattr(args, "threads", None)
    if isinstance(threads, int):
        wanted.update({name: str(threads) for name in THREAD_ENVS})
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ---------------------------------------------------------------------------------------------- errors


def interrupted_message(cache: CachedTeacher | None) -> str:
    """The Ctrl-C line of the teacher commands: how many answers are safely cached, and that a re-run resumes."""
    if cache is None:
        return "interrupted before any model call; nothing to resume."
    stats = cache.stats()
    return (f"interrupted; {stats['stored']} new answers cached in this run ({stats['entries']} in {cache.path}), "
            "re-run the same command to resume.")


def run_command(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one subcommand with the shared environment and error handling; returns the exit status."""
    try:
        with command_environment(args):
            return int(run(args) or 0)
    except Interrupted as exc:
        print(str(exc) or "interrupted.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return 130
    except AmbigError as exc:  # every error the library raises on purpose says what to fix
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - an internal error: the traceback is the report
        traceback.print_exc()
        print(f"{PROG}: internal error (exit 1); the traceback above is a bug report.", file=sys.stderr)
        return 1


def one_line(message: str) -> str:
    """``message`` on one line (a library message may hold a newline)."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip()) or "unknown error"
