"""Measure the appendix pages as a reader sees them: page height and a full-page screenshot in headless Chromium.

    python scripts/measure_appendix.py [results/notebooks] [--screenshots DIR] [--width 1280]

For every ``*.html`` in the folder it prints the rendered page height (``document.documentElement.scrollHeight``
at the given width) and, with ``--screenshots``, writes a full-page PNG. Needs a ``chromium`` binary (Debian:
``apt-get install chromium``); the test suite never needs it (``tests/test_appendix.py`` parses the HTML).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Reports the page height and, when the page has a parameter table (notebook_output.begin), the distance from its
# bottom to the top of the next table: what tests/test_appendix.py estimates from the HTML alone.
_PROBE = """<script>window.addEventListener('load', () => {
  const params = document.querySelector('table.ambig-parameters');
  let offset = -1;
  if (params) {
    const bottom = params.getBoundingClientRect().bottom;
    const later = [...document.querySelectorAll('table')].filter(t => t !== params && !params.contains(t) &&
      (params.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING));
    if (later.length) offset = Math.round(later[0].getBoundingClientRect().top - bottom);
  }
  document.title = 'HEIGHT=' + document.documentElement.scrollHeight + ';OFFSET=' + offset;
});</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("No chromium binary on PATH (Debian: apt-get install chromium).")


def page_height(html: Path, width: int, browser: str) -> tuple[int, int | None]:
    """Rendered height in CSS pixels of ``html`` in a ``width``-pixel-wide headless window, and the distance
    from the parameter table to the next table (None without a parameter table)."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / html.name  # a copy beside nothing: the appendix pages embed their images
        probe.write_text(html.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>", 1),
                         encoding="utf-8")
        out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                              f"--window-size={width},1000", "--virtual-time-budget=10000", "--dump-dom",
                              probe.as_uri()], capture_output=True, text=True, timeout=300, check=True).stdout
    match = re.search(r"<title>HEIGHT=(\d+);OFFSET=(-?\d+)</title>", out)
    if not match:
        raise RuntimeError(f"{html}: the page did not report its height")
    offset = int(match.group(2))
    return int(match.group(1)), (offset if offset >= 0 else None)


def screenshot(html: Path, width: int, height: int, target: Path, browser: str) -> None:
    """Full-page screenshot of ``html`` at ``width`` x ``height``."""
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", "--virtual-time-budget=10000", f"--screenshot={target}",
                    html.resolve().as_uri()], capture_output=True, timeout=300, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="results/notebooks")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--screenshots", type=Path, help="write <name>.png full-page screenshots here")
    args = parser.parse_args(argv)
    browser = _chromium()
    pages = sorted(Path(args.folder).glob("*.html"))
    if not pages:
        print(f"no HTML in {args.folder}", file=sys.stderr)
        return 1
    for html in pages:
        height, offset = page_height(html, args.width, browser)
        first = "" if offset is None else f"; first table {offset} px below the parameters"
        print(f"{html.name:32s} {height:8d} px  ({height / 800:.1f} screens of 800 px{first})")
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            screenshot(html, args.width, min(height, 16000), args.screenshots / f"{html.stem}.png", browser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
