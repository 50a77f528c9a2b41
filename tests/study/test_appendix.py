"""The appendix as a reader sees it: quiet pages with a complete run log, checked by parsing the HTML.

A small notebook is executed headlessly in every run of this file (so the checks cannot pass vacuously);
the committed pages in ``results/notebooks/`` are checked the same way when they exist.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ambig_lib.core import paths
from ambig_lib.study import appendix, runner
from ambig_lib.study.findings import FINDINGS_CLASS
from ambig_lib.study.notebook_output import PARAMETERS_CLASS, LogStream

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

# A notebook that does everything the study notebooks do: parameters, begin(), progress bars, warnings, log
# records, C-level stderr, a table, a seaborn figure and the findings.
CHATTY_CELL = """
import logging, os, sys, warnings
from tqdm.auto import tqdm
for _ in tqdm(range(n), desc="probe bar"):
    pass
print("STDERR-PROBE", file=sys.stderr)
warnings.warn("WARNING-PROBE")
logging.getLogger("some.library").warning("LOGGING-PROBE")
os.write(2, b"C-LEVEL-PROBE\\n")
import pandas as pd
pd.DataFrame({"teacher": ["a", "b"], "accuracy": [0.5, 0.9]})
"""
FIGURE_CELL = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import Image, display
sns.barplot(x=["a", "b"], y=[0.5, 0.9])
plt.savefig(figure_path, format="png", dpi=60)
plt.close()
display(Image(filename=figure_path))
"""


def _probe_notebook(path: Path, figure: Path) -> Path:
    nb = new_notebook(cells=[
        new_markdown_cell("# 07 · Probe\n\n**What this notebook shows.** A probe of the appendix machinery."),
        new_code_cell(f"n = 3\nfigure_path = {str(figure)!r}", metadata={"tags": ["parameters"]}),
        new_code_cell(f"from ambig_lib.study.notebook_output import begin\nbegin({str(path)!r}, globals())"),
        new_code_cell(CHATTY_CELL, metadata={"tags": [appendix.HEADLINE_TABLE_TAG]}),
        new_code_cell(FIGURE_CELL, metadata={"tags": [appendix.HEADLINE_FIGURE_TAG]}),
        new_code_cell("from ambig_lib.study.findings import Findings\n"
                      "Findings((f'The probe counted to {n}.', 'A second sentence.'))", metadata={"tags": ["findings"]}),
    ], metadata={"kernelspec": KERNELSPEC})
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def executed_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe notebook executed by the runner (headless, as ./run_all.sh does) with n = 200."""
    folder = tmp_path_factory.mktemp("appendix")
    source = _probe_notebook(folder / "07_probe.ipynb", folder / "probe.png")
    return runner.run_notebook(source, {"n": 200}, output_dir=folder / "executed")


def test_headless_page_reads_well_and_the_log_holds_the_chatter(executed_probe: Path) -> None:
    page = executed_probe.with_suffix(".html")
    assert appendix.check_page(page) == []
    notebook = nbformat.read(executed_probe, as_version=4)
    streams = [o for c in notebook.cells for o in c.get("outputs", []) if o["output_type"] == "stream"]
    assert streams == [], "nothing may reach the notebook through stdout/stderr"
    log = executed_probe.with_suffix(".log").read_text(encoding="utf-8")
    for probe in ("STDERR-PROBE", "WARNING-PROBE", "LOGGING-PROBE", "C-LEVEL-PROBE", "probe bar: 100%"):
        assert probe in log, f"{probe} missing from the run log"
    assert "\r" not in log and "\x1b[" not in log
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    params = soup.find("table", class_=PARAMETERS_CLASS)
    assert params is not None and "200 *" in params.get_text(" ")  # this run's value, marked as not the default
    assert soup.find("a", href="07_probe.log") is not None
    assert "The probe counted to 200." in soup.find(class_=FINDINGS_CLASS).get_text()


def test_interactive_kernel_shows_progress_bars_as_widgets(tmp_path: Path) -> None:
    """Without the headless switch (a JupyterLab kernel), tqdm.auto renders a widget, with no IProgress warning."""
    import papermill as pm

    source = tmp_path / "interactive.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("n = 3", metadata={"tags": ["parameters"]}),
        new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(n)):\n    pass"),
    ], metadata={"kernelspec": KERNELSPEC}), source)
    executed = tmp_path / "interactive.out.ipynb"
    pm.execute_notebook(str(source), str(executed), progress_bar=False, log_output=False)
    outputs = nbformat.read(executed, as_version=4).cells[-1].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs
    assert not any("IProgress not found" in str(o.get("text", "")) for o in outputs)


def _png(width: int = 40, height: int = 30) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _rendered(tmp_path: Path, outputs_before_table: list, extra: list | None = None,
              findings: bool = True) -> Path:
    """An executed notebook written by hand (no kernel) and rendered by the runner's HTML exporter."""
    param_html = f'<table class="{PARAMETERS_CLASS}"><tr><td>n</td><td>3</td></tr></table>'
    cells = [
        new_markdown_cell("# 08 · Hand-made"),
        new_code_cell("begin(...)", outputs=[new_output("execute_result", {"text/html": param_html,
                                                                           "text/plain": "n = 3"},
                                                        execution_count=1)]),
        new_code_cell("work()", outputs=outputs_before_table),
        new_code_cell("table", outputs=[new_output("execute_result", {
            "text/html": "<table><tr><th>a</th></tr><tr><td>1</td></tr></table>", "text/plain": "a 1"},
            execution_count=3)]),
        *(extra or []),
    ]
    if findings:
        cells.append(new_code_cell("found", outputs=[new_output("execute_result", {
            "text/html": f'<div class="{FINDINGS_CLASS}"><p>Found.</p></div>', "text/plain": "Found."},
            execution_count=9)]))
    path = tmp_path / "08_hand.ipynb"
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC}), path)
    return runner.render_html(path)


def test_check_page_reports_each_thing_a_reader_should_not_meet(tmp_path: Path) -> None:
    bar = "\rEncoding tokens:  12%|█▎        | 3840/29525 [00:01<00:09, 2600.00it/s]"
    noise = [new_output("stream", name="stderr", text=bar + "\n"),
             new_output("stream", name="stdout", text="line\n" * 60)]
    extra = [
        new_code_cell("meta", outputs=[new_output("execute_result", {
            "text/plain": "{'files': {'model.onnx': 'e147c9'},\n 'opset': 18}"}, execution_count=4)]),
        new_code_cell("paths", outputs=[new_output("execute_result", {
            "text/plain": "[PosixPath('/somewhere/results/figures/a.png')]"}, execution_count=5)]),
        new_code_cell("figure", outputs=[new_output("display_data", {
            "image/png": base64.b64encode(b"not a png").decode(), "text/plain": "<Figure>"})]),
        new_code_cell("link", outputs=[new_output("display_data", {
            "text/html": '<a href="missing.log">log</a>', "text/plain": "log"})]),
    ]
    problems = appendix.check_page(_rendered(tmp_path, noise, extra, findings=False))
    expected = ["stderr output block", "printed output block", "raw progress-bar line", "raw dict / list / path", "raw dict / list / path",
                "image 1 does not load", "more than one 800 px screen", "no 'What we found'",
                "broken link: missing.log"]
    for fragment in expected:
        assert any(fragment in p for p in problems), f"{fragment!r} not reported in {problems}"
    assert len(problems) == len(expected), problems


def test_first_table_offset_grows_with_what_comes_before_it(tmp_path: Path) -> None:
    def offset(lines: int) -> float:
        outputs = [new_output("stream", name="stdout", text="x\n" * lines)] if lines else []
        page = _rendered(tmp_path, outputs)
        value = appendix.first_table_offset(page)
        assert value is not None
        return value

    short, long = offset(0), offset(100)
    assert short < 150
    assert long - short == pytest.approx(100 * 17, rel=0.1)  # one text line is about 17 px at 1280 px wide
    image = new_code_cell("figure", outputs=[new_output("display_data", {"image/png": _png(40, 300),
                                                                          "text/plain": "<Figure>"})])
    page = _rendered(tmp_path, [], extra=None)
    nb = nbformat.read(page.with_suffix(".ipynb"), as_version=4)
    nb.cells.insert(2, image)
    nbformat.write(nb, page.with_suffix(".ipynb"))
    assert appendix.first_table_offset(runner.render_html(page.with_suffix(".ipynb"))) >= short + 300


def test_log_stream_writes_bars_as_throttled_lines() -> None:
    target = io.StringIO()
    stream = LogStream(target, bar_interval_s=3600)
    for i in range(1, 101):
        stream.write(f"\rtopics:  {i:3d}%|{'#' * (i // 10)}| {i}/100 [00:01<00:00]")
    stream.write("\n\x1b[Aplain message\n")
    stream.write("partial ")
    lines = target.getvalue().splitlines()
    assert lines == ["topics:    1%|| 1/100 [00:01<00:00]", "topics:  100%|##########| 100/100 [00:01<00:00]",
                     "plain message"]
    stream.write("line\n")
    assert target.getvalue().splitlines()[-1] == "partial line"
    stream.write("\rnext:  50%|#####     | 5/10")
    stream.flush()  # tqdm flushes after each refresh: the running bar is in the log before its next refresh
    assert target.getvalue().splitlines()[-1] == "next:  50%|#####     | 5/10"
    stream.write("\rnext: 100%|##########| 10/10\n")
    assert target.getvalue().splitlines()[-2:] == ["next:  50%|#####     | 5/10", "next: 100%|##########| 10/10"]


def test_index_links_every_page_with_its_headline(executed_probe: Path) -> None:
    index = appendix.write_index(executed_probe.parent)
    assert appendix.broken_links(index) == []
    soup = BeautifulSoup(index.read_text(encoding="utf-8"), "html.parser")
    section = soup.find("section", id="07_probe")
    assert section is not None and section.find("h2").get_text() == "07 · Probe"
    hrefs = {a["href"] for a in section.find_all("a")}
    assert {"07_probe.html", "07_probe.log", "07_probe.ipynb"} <= hrefs
    assert "A probe of the appendix machinery." in section.get_text()
    assert "The probe counted to 200." in section.get_text()
    assert section.find("table") is not None and "teacher" in section.find("table").get_text()
    image = section.find("img")
    assert image is not None and image["src"].startswith("data:image/png;base64,")
    executed_probe.with_suffix(".log").rename(executed_probe.with_suffix(".log.bak"))
    try:
        assert appendix.broken_links(index) == ["07_probe.log"]
    finally:
        executed_probe.with_suffix(".log.bak").rename(executed_probe.with_suffix(".log"))


def test_source_notebooks_open_and_close_for_the_reader() -> None:
    for path in runner.study_notebooks():
        nb = nbformat.read(path, as_version=4)
        assert nb.cells[0].cell_type == "markdown" and "**What this notebook shows.**" in nb.cells[0].source
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", [])
        assert re.search(rf"begin\(\"{path.stem}\", globals\(\)\)\s*$", code[1].source), path.name
        assert "findings" in code[-1].metadata.get("tags", []) and "findings." in code[-1].source, path.name
        assert any(appendix.HEADLINE_TABLE_TAG in c.metadata.get("tags", []) for c in code), path.name
        assert not any("print(" in c.source for c in code), f"{path.name}: show tables or sentences, not prints"


def _committed_pages() -> list[Path]:
    return sorted(paths.executed_notebooks_dir().glob("0*.html"))


@pytest.mark.parametrize("page", _committed_pages() or [None], ids=lambda p: p.name if p else "none")
def test_committed_appendix_page_reads_well(page: Path | None) -> None:
    if page is None:
        pytest.skip(f"no executed notebooks in {paths.executed_notebooks_dir()}; ./run_all.sh writes them")
    assert appendix.check_page(page) == []


def test_committed_index_links_every_page() -> None:
    pages = _committed_pages()
    if not pages:
        pytest.skip(f"no executed notebooks in {paths.executed_notebooks_dir()}; ./run_all.sh writes them")
    index = paths.executed_notebooks_dir() / appendix.INDEX_NAME
    assert index.is_file(), "./run_all.sh writes index.html beside the pages"
    assert appendix.broken_links(index) == []
    linked = {a["href"] for a in BeautifulSoup(index.read_text(encoding="utf-8"), "html.parser").find_all("a")}
    assert {p.name for p in pages} <= linked


def test_the_run_log_names_no_machine_folder() -> None:
    import io
    import os

    from ambig_lib.core import paths
    from ambig_lib.study.notebook_output import LogStream

    target = io.StringIO()
    stream = LogStream(target)
    stream.write(f"{paths.REPO_ROOT}/.venv/lib/site.py:4: Warning\n{os.path.expanduser('~')}/.cache/x\n")
    text = target.getvalue()
    assert str(paths.REPO_ROOT) not in text and ".venv/lib/site.py:4: Warning" in text
    assert os.path.expanduser("~") == "/" or os.path.expanduser("~") + "/" not in text
