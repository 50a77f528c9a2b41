"""The appendix as a reader sees it: checks of the rendered notebooks and the index page that links them.

- :func:`check_page` parses one HTML rendering (``results/notebooks/<name>.html``) and lists what a reader
  should not meet: stderr blocks, printed output, raw progress-bar lines, raw dicts or path lists, figures that do not load,
  a first result table more than one screen below the parameters, a missing parameter table or findings.
- :func:`write_index` writes ``results/notebooks/index.html``: every executed notebook with its one-line
  summary, headline table and figure (cells tagged ``headline-table`` / ``headline-figure``), and links to
  its HTML rendering, run log and executed notebook, so that the folder can be shared on its own.
- :func:`broken_links` lists the links and images of a page that do not resolve.

Only the HTML is parsed (BeautifulSoup, which nbconvert already needs): no browser is required. Heights are
estimated from the page's text lines, table rows and PNG sizes; ``scripts/measure_appendix.py`` measures the
real pages in headless Chromium.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

from ambig_lib.core.io import write_text_atomic
from ambig_lib.study.findings import FINDINGS_CLASS
from ambig_lib.study.notebook_output import PARAMETERS_CLASS

#: Height of the reader's first screen (a 1280 x 800 display) in CSS pixels.
SCREEN_PX = 800
#: Content width of an nbconvert page at 1280 px (images wider than this are scaled down).
CONTENT_WIDTH_PX = 1100
#: Cell tags that mark what the index shows of each notebook.
HEADLINE_TABLE_TAG = "headline-table"
HEADLINE_FIGURE_TAG = "headline-figure"
INDEX_NAME = "index.html"

_STDERR_MIME = "application/vnd.jupyter.stderr"
_BAR_LINE = re.compile(r"\d{1,3}%\|.*\|\s*\d+/\d+|\d+/\d+ \[\d+:\d+<")
_RAW_REPR = re.compile(r"^\s*[\[{(]\s*['\"]|PosixPath\(|WindowsPath\(")
_PX = {"line": 17.0, "text_line": 22.0, "row": 29.0, "cell_pad": 22.0, "heading": 44.0, "paragraph_gap": 12.0}


def _soup(source: str):  # noqa: ANN202 - bs4 is imported lazily
    from bs4 import BeautifulSoup

    return BeautifulSoup(source, "html.parser")


# ----------------------------------------------------------------------------------------- images


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG after decoding it fully (raises on a broken image)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def _image_bytes(src: str, page: Path) -> bytes:
    if src.startswith("data:"):
        header, _, payload = src.partition(",")
        if ";base64" not in header:
            raise ValueError("an inline image that is not base64")
        return base64.b64decode(payload, validate=True)
    target = _local_target(src, page)
    if target is None:
        raise ValueError(f"an image from outside the folder ({src[:80]})")
    return target.read_bytes()


def _local_target(href: str, page: Path) -> Path | None:
    parsed = urlparse(href)
    if parsed.scheme or parsed.netloc:
        return None
    return (page.parent / unquote(parsed.path)).resolve() if parsed.path else page.resolve()


# ----------------------------------------------------------------------------------------- layout


def _text_height(text: str, chars_per_line: int = 150, line_px: float = _PX["text_line"]) -> float:
    lines = [line for line in text.splitlines() if line.strip()] or [""]
    return sum(max(1, math.ceil(len(line) / chars_per_line)) for line in lines) * line_px


def _all(node, names) -> list:  # noqa: ANN001
    """``node`` itself (when its tag is one of ``names``) and its descendants of those tags."""
    found = list(node.find_all(names)) if hasattr(node, "find_all") else []
    return ([node] if getattr(node, "name", None) is not None and _matches(node.name, names) else []) + found


def _matches(name: str, names) -> bool:  # noqa: ANN001
    return bool(names.match(name)) if isinstance(names, re.Pattern) else name in names


def _block_height(node, page: Path) -> float:  # noqa: ANN001 - a bs4 Tag
    """Estimated rendered height of one output or markdown block (CSS px at 1280 px wide)."""
    height = 0.0
    for image in _all(node, ["img"]):
        try:
            width, h = _png_size(_image_bytes(image.get("src", ""), page))
        except Exception:  # noqa: BLE001 - a broken image is reported by check_page
            width, h = 1, 150
        shown_width = float(image.get("width") or width)
        height += h * min(1.0, CONTENT_WIDTH_PX / max(width, 1), shown_width / max(width, 1))
    for table in _all(node, ["table"]):
        height += (len(table.find_all("tr")) + (1 if table.find("caption") else 0)) * _PX["row"] + _PX["paragraph_gap"]
    for pre in _all(node, ["pre"]):
        if not pre.find_parent("table"):
            height += max(1, len(pre.get_text().rstrip("\n").splitlines())) * _PX["line"]
    height += len(_all(node, re.compile(r"^h[1-6]$"))) * _PX["heading"]
    for block in _all(node, ["p", "li"]):
        if not block.find_parent("table"):
            height += _text_height(block.get_text(" ", strip=True)) + _PX["paragraph_gap"]
    return height


def _cell_parts(cell, page: Path) -> tuple[float, list[tuple[float, object]]]:  # noqa: ANN001
    """Height of a cell's input, and each output block with its estimated height."""
    source = cell.select_one(".jp-InputArea-editor, .jp-RenderedMarkdown")
    if "jp-MarkdownCell" in cell.get("class", []):
        return (_block_height(source, page) if source else 0.0) + _PX["cell_pad"], []
    code = cell.select_one(".jp-InputArea-editor pre")
    input_px = (len(code.get_text().rstrip("\n").splitlines()) * _PX["line"] if code else 0.0) + _PX["cell_pad"]
    outputs = [(_block_height(out, page) + _PX["paragraph_gap"], out) for out in cell.select(".jp-OutputArea-output")]
    return input_px, outputs


def first_table_offset(page: Path, soup=None) -> float | None:  # noqa: ANN001
    """Estimated distance in px from the end of the parameter table to the top of the first result table
    (None when the page has no parameter table or no table after it)."""
    soup = soup or _soup(page.read_text(encoding="utf-8"))
    params = soup.find("table", class_=PARAMETERS_CLASS)
    if params is None:
        return None
    cells = soup.select("div.jp-Cell")
    start = next((i for i, cell in enumerate(cells) if params in cell.descendants), None)
    if start is None:
        return None
    offset, seen_params = 0.0, False
    for i, cell in enumerate(cells[start:], start):
        input_px, outputs = _cell_parts(cell, page)
        if i > start:
            offset += input_px
        for height, out in outputs:
            if not seen_params:
                seen_params = params in out.descendants
                if seen_params:  # what follows the parameter table inside its own output block
                    offset += sum(_block_height(el, page) for el in params.find_next_siblings())
                continue
            tables = [t for t in out.find_all("table") if t is not params]
            if tables:
                return offset + _preceding_height(out, tables[0], page)
            offset += height
    return None


def _preceding_height(container, target, page: Path) -> float:  # noqa: ANN001
    """Height of what comes before ``target`` inside ``container`` (direct children walked in order)."""
    height = 0.0
    for child in getattr(container, "children", []):
        if child is target or (hasattr(child, "descendants") and target in child.descendants):
            return height + (_preceding_height(child, target, page) if child is not target else 0.0)
        if hasattr(child, "find_all"):
            height += _block_height(child, page)
    return height


# ----------------------------------------------------------------------------------------- checks


def check_page(page: Path, screen_px: int = SCREEN_PX) -> list[str]:
    """What a reader should not meet on ``page`` (an nbconvert HTML rendering); empty when it reads well."""
    page = Path(page)
    soup = _soup(page.read_text(encoding="utf-8"))
    problems: list[str] = []
    stderr = soup.find_all(attrs={"data-mime-type": _STDERR_MIME})
    if stderr:
        problems.append(f"{len(stderr)} stderr output block(s), first: {stderr[0].get_text()[:120]!r}")
    # nbconvert renders stdout as text/plain; a cell's returned value sits in an "executeResult" output instead
    stdout = [out for out in soup.select('.jp-RenderedText[data-mime-type="text/plain"]')
              if "jp-OutputArea-executeResult" not in " ".join(out.get("class", []) + out.parent.get("class", []))]
    if stdout:
        problems.append(f"{len(stdout)} printed output block(s) (show a table or a sentence), first: "
                        f"{stdout[0].get_text()[:120]!r}")
    for out in soup.select(".jp-OutputArea-output"):
        text = out.get_text("\n")
        bar = next((line for line in text.splitlines() if _BAR_LINE.search(line)), None)
        if bar:
            problems.append(f"a raw progress-bar line: {bar.strip()[:120]!r}")
            break
    for out in soup.select('.jp-OutputArea-output[data-mime-type="text/plain"]'):
        text = out.get_text()
        if _RAW_REPR.search(text):
            problems.append(f"a raw dict / list / path in a plain-text output: {text.strip()[:120]!r}")
    images = soup.find_all("img")
    for number, image in enumerate(images, 1):
        try:
            width, height = _png_size(_image_bytes(image.get("src", ""), page))
            if width < 2 or height < 2:
                problems.append(f"image {number} is {width}x{height} px")
        except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
            problems.append(f"image {number} does not load: {exc}")
    if soup.find("table", class_=PARAMETERS_CLASS) is None:
        problems.append("no parameter table (begin() in the first cell)")
    else:
        offset = first_table_offset(page, soup)
        if offset is None:
            problems.append("no result table after the parameters")
        elif offset > screen_px:
            problems.append(f"the first result table starts about {offset:.0f} px below the parameters "
                            f"(more than one {screen_px} px screen)")
    if soup.find(class_=FINDINGS_CLASS) is None:
        problems.append("no 'What we found' paragraph")
    problems += [f"broken link: {link}" for link in broken_links(page, soup)]
    return problems


def broken_links(page: Path, soup=None) -> list[str]:  # noqa: ANN001
    """Relative links (``href``) and image sources of ``page`` that do not resolve to a file or anchor."""
    page = Path(page)
    soup = soup or _soup(page.read_text(encoding="utf-8"))
    broken = []
    for tag, attr in (("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")):
        for element in soup.find_all(tag):
            ref = element.get(attr)
            if not ref or ref.startswith(("data:", "mailto:", "javascript:")):
                continue
            target = _local_target(ref, page)
            if target is None:
                continue  # a web address: not part of the folder
            fragment = urlparse(ref).fragment
            if not target.is_file():
                broken.append(ref)
            elif fragment and target.suffix == ".html":
                other = soup if target == page.resolve() else _soup(target.read_text(encoding="utf-8"))
                if other.find(id=fragment) is None and other.find(attrs={"name": fragment}) is None:
                    broken.append(ref)
    return broken


# ------------------------------------------------------------------------------------------ index


def _tagged_outputs(notebook, tag: str) -> Iterable[dict]:  # noqa: ANN001
    for cell in notebook.cells:
        if tag in cell.get("metadata", {}).get("tags", []):
            yield from cell.get("outputs", [])


def _headline_table(notebook) -> str | None:  # noqa: ANN001
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    for output in _tagged_outputs(notebook, HEADLINE_TABLE_TAG):
        data = output.get("data", {})
        if "<table" in str(data.get("text/html", "")):
            return str(data["text/html"])
        if "text/markdown" in data and "|" in str(data["text/markdown"]):
            return markdown2html_mistune(str(data["text/markdown"]))
    return None


def _headline_figure(notebook) -> str | None:  # noqa: ANN001
    for output in _tagged_outputs(notebook, HEADLINE_FIGURE_TAG):
        png = output.get("data", {}).get("image/png")
        if png:
            return str(png).replace("\n", "")
    return None


def _findings_text(notebook) -> str:  # noqa: ANN001
    for cell in reversed(notebook.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if FINDINGS_CLASS in str(data.get("text/html", "")):
                return " ".join(_soup(str(data["text/html"])).get_text().split())
    return ""


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def _title_and_intro(notebook) -> tuple[str, str]:  # noqa: ANN001
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            lines = [line.strip() for line in cell.source.splitlines()]
            title = next((line.lstrip("# ") for line in lines if line.startswith("#")), "")
            body = " ".join(line for line in lines if line and not line.startswith("#"))
            body = re.sub(r"\*\*What this notebook shows\.?\*\*\s*", "", body)
            return title, _first_sentence(body)
    return "", ""


def index_entries(folder: Path) -> list[dict[str, str | None]]:
    """One entry per executed notebook in ``folder``: names, title, summaries, headline table and figure."""
    import nbformat

    entries = []
    for executed in sorted(Path(folder).glob("0*.ipynb")):
        notebook = nbformat.read(executed, as_version=4)
        title, intro = _title_and_intro(notebook)
        entries.append({
            "stem": executed.stem, "title": title or executed.stem, "intro": intro,
            "finding": _first_sentence(_findings_text(notebook)),
            "table": _headline_table(notebook), "figure": _headline_figure(notebook),
            "html": f"{executed.stem}.html" if executed.with_suffix(".html").is_file() else None,
            "log": f"{executed.stem}.log" if executed.with_suffix(".log").is_file() else None,
            "ipynb": executed.name,
        })
    return entries


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
section { border-top: 1px solid #ccc; padding: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
.headline { overflow-x: auto; max-height: 420px; overflow-y: auto; }
img { max-width: min(100%, 760px); height: auto; }
"""


def render_index(entries: list[dict[str, str | None]], title: str = "Appendix: the executed study notebooks") -> str:
    """The index page (self-contained: figures inlined, links relative to its folder)."""
    esc = html.escape
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    toc = "".join(f'<li><a href="#{esc(str(e["stem"]))}">{esc(str(e["title"]))}</a></li>' for e in entries)
    sections = []
    for e in entries:
        links = [f'<a href="{esc(str(e[k]))}">{label}</a>' for k, label in
                 (("html", "notebook (HTML)"), ("log", "run log"), ("ipynb", "executed .ipynb")) if e.get(k)]
        parts = [f'<section id="{esc(str(e["stem"]))}">',
                 f'<h2>{esc(str(e["title"]))}</h2>',
                 markdown2html_mistune(str(e["intro"])) if e.get("intro") else "",
                 f"<p><b>Found:</b> {esc(str(e['finding']))}</p>" if e.get("finding") else "",
                 f"<p>{' · '.join(links)}</p>",
                 f'<div class="headline">{e["table"]}</div>' if e.get("table") else "",
                 f'<img alt="headline figure of {esc(str(e["stem"]))}" src="data:image/png;base64,{e["figure"]}">'
                 if e.get("figure") else "",
                 "</section>"]
        sections.append("\n".join(p for p in parts if p))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{esc(title)}</h1>\n"
            "<p>Each notebook was executed headlessly by <code>./run_all.sh</code>; its page shows the run's "
            "parameters, results and findings, its run log the progress and library messages.</p>\n"
            f"<nav><ol>{toc}</ol></nav>\n" + "\n".join(sections) + "\n</body></html>\n")


def write_index(folder: Path) -> Path:
    """Write ``folder/index.html`` from the executed notebooks in ``folder``; returns its path."""
    target = Path(folder) / INDEX_NAME
    write_text_atomic(target, render_index(index_entries(Path(folder))))
    return target
