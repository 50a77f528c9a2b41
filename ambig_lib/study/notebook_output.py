"""What the study notebooks show: a quiet page for the reader, a complete log for the curious.

One switch decides where the chatter of a run goes:

- **Headless** (``./run_all.sh``): the runner starts each kernel with this module loaded as an IPython
  extension and ``AMBIG_NOTEBOOK_LOG`` naming ``results/notebooks/<name>.log`` (:func:`headless`). Before the
  first cell runs, the kernel sends to that log everything that is not a result: progress bars (as text),
  Trainer logs, Python warnings, library log records and C-level stderr (llama.cpp, onnxruntime). Cell
  outputs keep only what a cell displays.
- **Interactive** (JupyterLab): nothing is redirected; progress bars render as widgets (ipywidgets).

In both modes the first cell of a notebook calls :func:`begin`, which shows this run's parameters (and, headless,
links the log), and the known-harmless third-party warnings listed in :data:`KNOWN_HARMLESS` are silenced, in
this one place, each with the reason it is harmless.
"""

from __future__ import annotations

import ast
import html
import io
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Image, Markdown, display

from ambig_lib.core import paths
from ambig_lib.core.markdown import to_markdown

#: Environment variable naming the run log; set by :func:`headless` for the kernels papermill starts.
LOG_ENV = "AMBIG_NOTEBOOK_LOG"
#: CSS class of the parameter table :func:`begin` shows (the appendix checks find the table by it).
PARAMETERS_CLASS = "ambig-parameters"
#: A progress bar in the log is written at most this often (plus its first and its 100% line).
LOG_BAR_INTERVAL_S = 15.0


@dataclass(frozen=True)
class HarmlessMessage:
    """A third-party warning or log record that says nothing about this study's results."""

    pattern: str  # regular expression matched at the start of the message
    reason: str
    category: type[Warning] | None = None  # a Python warning of this category ...
    logger: str | None = None  # ... or a log record of this logger ("" is the root logger)


#: The only third-party messages the notebooks silence, with the reason each is harmless.
KNOWN_HARMLESS: tuple[HarmlessMessage, ...] = (
    HarmlessMessage(
        r"torchvision is not installed", logger="torch.onnx._internal.exporter._registration",
        reason="torch.onnx registers torchvision's detection operators when torchvision exists; the students "
               "use none of them and torchvision is deliberately not a dependency."),
    HarmlessMessage(
        r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning,
        reason="raised inside torch.export's own pytree code (via copyreg) while exporting to ONNX; nothing in "
               "ambig_lib uses LeafSpec, and the exported graph is checked against eager PyTorch in 05."),
    HarmlessMessage(
        r"# The axis name: \w+ will not be used", category=UserWarning,
        reason="torch.onnx keeps one name per dynamic axis: every input shares the same batch and sequence "
               "Dim, so the duplicate name is dropped and the exported axes stay dynamic (05 runs batches of "
               "1-256 and every sequence length through them)."),
    HarmlessMessage(
        r"Please consider to run pre-processing before quantization", logger="",
        reason="onnxruntime suggests its shape-inference pre-pass for static (calibrated) quantisation; the "
               "export quantises MatMul weights dynamically after the transformer optimiser already ran, and "
               "05 measures the int8 model's agreement with PyTorch on every evaluation query."),
)

class _MessageFilter(logging.Filter):
    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = pattern
        self._regex = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._regex.match(record.getMessage())


def silence_known_harmless() -> None:
    """Silence the messages of :data:`KNOWN_HARMLESS` (and nothing else); calling it again adds nothing."""
    for item in KNOWN_HARMLESS:
        if item.category is not None:  # warnings.filterwarnings replaces an identical filter, never duplicates
            warnings.filterwarnings("ignore", message=item.pattern, category=item.category)
        if item.logger is not None:
            logger = logging.getLogger(item.logger or None)
            if not any(getattr(f, "pattern", None) == item.pattern for f in logger.filters):
                logger.addFilter(_MessageFilter(item.pattern))


# ------------------------------------------------------------------------------------- runner side


@contextmanager
def headless(log_path: Path) -> Iterator[dict[str, Any]]:
    """Runner side: the kernel started inside writes its chatter to ``log_path`` (created afresh).

    Yields the keyword arguments for ``papermill.execute_notebook`` that load this module into the kernel.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(f"# run log of {log_path.stem} ({time.strftime('%Y-%m-%d %H:%M:%S')}): progress, "
                        "training logs and library messages; the results are in the notebook\n", encoding="utf-8")
    previous = os.environ.get(LOG_ENV)
    os.environ[LOG_ENV] = str(log_path.resolve())
    try:
        yield {"extra_arguments": [f"--IPKernelApp.extensions={__name__}"]}
    finally:
        if previous is None:
            os.environ.pop(LOG_ENV, None)
        else:
            os.environ[LOG_ENV] = previous


def log_path() -> Path | None:
    """The run log of this kernel when it runs headless, else None."""
    value = os.environ.get(LOG_ENV)
    return Path(value) if value else None


# ------------------------------------------------------------------------------------- kernel side

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BAR = re.compile(r"^(?P<desc>.*?):?\s*(?P<pct>\d{1,3})%\|")


def portable_line(line: str) -> str:
    """``line`` without this machine's folders: the checkout becomes repository-relative, the home ``~/``."""
    root = f"{paths.REPO_ROOT}/"
    home = f"{os.path.expanduser('~')}/"
    return line.replace(root, "").replace(home, "~/") if home != "/" else line.replace(root, "")


class LogStream(io.TextIOBase):
    """A text stream onto the run log that writes progress-bar refreshes as lines, at most one per bar every
    :data:`LOG_BAR_INTERVAL_S` seconds (plus the first and the finished one); every other line as written."""

    def __init__(self, target: io.TextIOBase, bar_interval_s: float = LOG_BAR_INTERVAL_S) -> None:
        super().__init__()
        self._target = target
        self._interval = bar_interval_s
        self._pending = ""
        self._last_bar: dict[str, float] = {}
        self._last_line = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._target.fileno()

    def write(self, text: str) -> int:
        pieces = re.split(r"[\r\n]", self._pending + _ANSI.sub("", str(text)))
        self._pending = pieces.pop()
        for line in pieces:
            self._emit(line.rstrip())
        return len(text)

    def flush(self) -> None:
        if _BAR.match(self._pending):  # a bar's current state is readable while it runs (tqdm flushes)
            self._emit(self._pending.rstrip())
        self._target.flush()

    def _emit(self, line: str) -> None:
        line = portable_line(line)
        if not line or line == self._last_line:
            return
        bar = _BAR.match(line)
        if bar:
            desc, now = bar.group("desc").strip(), time.monotonic()
            last = self._last_bar.get(desc)
            if last is not None and int(bar.group("pct")) < 100 and now - last < self._interval:
                return
            self._last_bar[desc] = now
        self._last_line = line
        self._target.write(line + "\n")


def _text_progress_bars() -> None:
    """tqdm.auto gives plain text bars (written to ``sys.stderr``, i.e. the log), never widgets."""
    import tqdm.auto
    import tqdm.autonotebook
    import tqdm.std

    for module in (tqdm.auto, tqdm.autonotebook):
        module.tqdm, module.trange = tqdm.std.tqdm, tqdm.std.trange  # type: ignore[assignment]


def _retarget_logging(stream: io.TextIOBase, old_streams: tuple[Any, ...]) -> None:
    """Handlers that write to the old stderr write to ``stream``; the root logger gets one if it has none."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream in old_streams:
                handler.setStream(stream)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
        root.addHandler(handler)


def route_to_log(path: Path, ipython: Any = None) -> LogStream:
    """Send this process's stderr (Python and C level), warnings, log records and progress bars to ``path``."""
    raw = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - open for the kernel's lifetime
    stream = LogStream(raw)
    old_streams = (sys.stderr, sys.__stderr__)
    sys.stderr.flush()
    os.dup2(raw.fileno(), 2)  # llama.cpp, onnxruntime and other C code write to fd 2
    sys.stderr = stream
    _text_progress_bars()
    _retarget_logging(stream, old_streams)
    silence_known_harmless()
    if ipython is not None:
        def mark_cell(info: Any) -> None:
            first = next((line for line in str(info.raw_cell).splitlines() if line.strip()), "")
            stream.write(f"\n## {time.strftime('%H:%M:%S')} cell: {first[:100]}\n")

        ipython.events.register("pre_run_cell", mark_cell)
    return stream


def load_ipython_extension(ipython: Any) -> None:
    """IPython extension entry point (headless kernels): route to the log named by ``AMBIG_NOTEBOOK_LOG``."""
    path = log_path()
    if path is not None:
        route_to_log(path, ipython)


# ------------------------------------------------------------------------------------------ display


def _format_value(value: Any, limit: int = 90) -> str:
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        text = ", ".join(_format_value(v, limit) for v in value) if value else "(none)"
    elif isinstance(value, Mapping):
        text = "; ".join(f"{k}: {_format_value(v, limit)}" for k, v in value.items()) if value else "(none)"
    else:
        text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def declared_parameters(notebook: str | os.PathLike[str]) -> dict[str, str]:
    """Names and default values (source text) of the notebook's ``parameters`` cell (a stem in ``notebooks/``
    or a path)."""
    import papermill as pm


    path = Path(notebook)
    if path.suffix != ".ipynb":
        path = paths.notebooks_dir() / f"{notebook}.ipynb"
    return {name: spec["default"] for name, spec in pm.inspect_notebook(str(path)).items()}


@dataclass(frozen=True)
class HtmlBlock:
    """An HTML fragment with a Markdown fallback (for text-only front ends)."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def _same_as_default(value: Any, default_source: str) -> bool:
    """Whether ``value`` equals the default written in the parameters cell (source text)."""
    try:
        return ast.literal_eval(default_source) == value
    except (ValueError, SyntaxError):
        return default_source.strip() == repr(value)


def parameter_block(values: Mapping[str, Any], defaults: Mapping[str, str] | None = None,
                    log: Path | None = None) -> HtmlBlock:
    """This run's parameters as one small table; values that differ from the notebook's default (its source
    text in ``defaults``) are marked with *."""
    rows, text = [], []
    for name, value in values.items():
        changed = defaults is not None and name in defaults and not _same_as_default(value, defaults[name])
        mark = " *" if changed else ""
        rows.append(f'<tr><td style="text-align:left"><code>{html.escape(name)}</code></td>'
                    f'<td style="text-align:left">{html.escape(_format_value(value))}{mark}</td></tr>')
        text.append(f"{name} = {_format_value(value)}")
    log_html = ""
    if log is not None:
        log_html = (f"<p>Progress, training logs and library messages of this run: "
                    f'<a href="{html.escape(log.name)}">{html.escape(log.name)}</a>.</p>')
        text.append(f"run log: {log.name}")
    table = ("<p><b>This run's parameters</b> (* differs from the notebook's default)</p>"
             f'<table class="{PARAMETERS_CLASS}"><thead><tr><th>parameter</th><th>value</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")
    return HtmlBlock(table + log_html, "\n".join(text))


def begin(notebook: str | os.PathLike[str], namespace: Mapping[str, Any]) -> HtmlBlock:
    """First cell of every study notebook: silence known-harmless warnings, return the parameter table.

    ``notebook`` is the notebook's stem (``"02_inspect_synthetic"``) or path, ``namespace`` its ``globals()``:
    the parameters are the names its ``parameters`` cell declares, with this run's values.
    """
    silence_known_harmless()
    defaults = declared_parameters(notebook)
    missing = [name for name in defaults if name not in namespace]
    if missing:
        raise NameError(f"begin(): parameter(s) {', '.join(missing)} are not defined; run the parameters cell first.")
    return parameter_block({name: namespace[name] for name in defaults}, defaults, log_path())


def facts(record: Mapping[str, Any], exclude: tuple[str, ...] = (), digits: int = 4):  # noqa: ANN201
    """A nested record (provenance, export metadata) as a table of ``value`` by ``field``.

    Nested keys are joined with ``.``; ``exclude`` drops top-level keys; long hashes are shortened to 12
    characters; floats are rounded to ``digits``.
    """
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, float):
            rows.append((prefix, f"{value:.{digits}g}"))
        elif isinstance(value, str) and re.fullmatch(r"[0-9a-f]{40,64}", value):
            rows.append((prefix, value[:12] + "…"))
        else:
            rows.append((prefix, _format_value(value)))

    walk("", {k: v for k, v in record.items() if k not in exclude})
    return pd.DataFrame(rows, columns=["field", "value"]).set_index("field")


def show_markdown(text: str | os.PathLike[str]) -> None:
    """Display Markdown: a string, or the content of a ``.md`` file (a table the stage wrote)."""
    path = Path(text) if not isinstance(text, str) or (text.endswith(".md") and "\n" not in text) else None
    display(Markdown(path.read_text(encoding="utf-8") if path is not None else text))


def show_table(frame: Any, digits: int = 3) -> None:
    """Display a DataFrame as a Markdown table (stable in the rendered appendix)."""
    show_markdown(to_markdown(frame, digits))


def show_figures(figures: os.PathLike[str] | str | Sequence[os.PathLike[str] | str]) -> None:
    """Display saved PNG figures (one path or several), in order."""
    for figure in [figures] if isinstance(figures, (str, os.PathLike)) else figures:
        display(Image(filename=str(figure)))
