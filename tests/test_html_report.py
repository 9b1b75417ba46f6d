"""The HTML report in a real browser (headless Chromium, Debian's package).

The browser comes from ``scripts/install_test_browser.sh`` (run by ``make test``). Without it
these tests FAIL, saying how to install it; they never skip. ``HIERMOD_CHROMIUM`` points at
another Chromium binary.

The screenshot for readers, ``docs/images/report_screenshot.png``, is made by
:func:`test_report_renders_in_chromium`; it is copied there when ``HIERMOD_UPDATE_SCREENSHOT=1``
(otherwise it goes to the test's temporary folder only, so test runs leave the tree clean).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from support import ROOT

MARK = "HIERMOD_CHECK"
# Injected into a copy of the report (the report itself has no scripts): counts the tables and
# the images the browser decoded, and writes the result into the DOM and the console.
CHECKER = f"""<script>
window.addEventListener('load', function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
  var res = 'tables=' + document.querySelectorAll('table').length + ';rows=' +
            document.querySelectorAll('tbody tr').length + ';images=' + imgs.length +
            ';loaded=' + ok;
  document.body.setAttribute('data-check', res);
  console.log('{MARK} ' + res);
}});
</script>"""

#: the demo run and a headless browser: slow by nature
pytestmark = pytest.mark.slow


def chromium() -> str:
    env = os.environ.get("HIERMOD_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no headless Chromium found: run scripts/install_test_browser.sh (make test "
                "does), i.e. 'apt-get install -y chromium', or set HIERMOD_CHROMIUM", pytrace=False)


def browse(url: str, tmp: Path, *extra: str, size: str = "1200,2400") -> subprocess.CompletedProcess:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
           f"--window-size={size}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def console_messages(stderr: str) -> list[str]:
    """Lines Chromium logs for the page's console (errors, warnings, logs)."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def report_dir(demo):
    run, out = demo
    assert run.returncode in (0, 3), run.stderr[-3000:]
    return out


def test_report_files(report_dir):
    html = (report_dir / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html  # nothing runs
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:|//|file:)""", html)  # nothing loads
    for section in ("Model", "Fixed effects", "Variance components", "Intraclass correlation",
                    "Sampling diagnostics", "Posterior versus REML / ML", "Figures"):
        assert f">{section}</h2>" in html
    assert "γ<sub>10</sub>" in html and "sd(floor | county)" in html
    pngs = sorted(p.name for p in report_dir.glob("*.png"))
    assert {"fixed_effects.png", "variance_components.png", "trace.png",
            "reml_comparison.png"} <= set(pngs)
    assert html.count('src="data:image/png;base64,') == len(pngs)
    for p in report_dir.glob("*.png"):
        w, h = png_size(p)
        assert w > 200 and h > 100
    md = (report_dir / "summary.md").read_text()
    assert "## Fixed effects" in md and "| floor |" in md and "$$" in md


def test_report_renders_in_chromium(report_dir, tmp_path):
    page = (report_dir / "report.html").read_text()
    checked = tmp_path / "report_checked.html"
    checked.write_text(page.replace("</body>", CHECKER + "</body>"))
    dom = browse(checked.as_uri(), tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-3000:]
    m = re.search(r'data-check="tables=(\d+);rows=(\d+);images=(\d+);loaded=(\d+)"', dom.stdout)
    assert m, "the page's load handler did not run: " + dom.stdout[:500]
    tables, rows, images, loaded = map(int, m.groups())
    assert tables >= 5 and rows >= 20  # fixed, variance, ICC, diagnostics, REML
    n_png = len(list(report_dir.glob("*.png")))
    assert images == n_png and loaded == images, f"{loaded} of {images} images decoded"
    messages = console_messages(dom.stderr)
    assert [ln for ln in messages if MARK not in ln] == [], messages  # no console errors
    assert any(MARK in ln for ln in messages)
    # the screenshot of the unmodified report
    shot = tmp_path / "report_screenshot.png"
    res = browse((report_dir / "report.html").as_uri(), tmp_path, f"--screenshot={shot}",
                 size="1100,2300")
    assert res.returncode == 0 and shot.is_file(), res.stderr[-3000:]
    assert console_messages(res.stderr) == []
    assert png_size(shot) == (1100, 2300)
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
    if os.environ.get("HIERMOD_UPDATE_SCREENSHOT") == "1":
        dest = ROOT / "docs" / "images" / "report_screenshot.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, dest)


def test_browser_check_catches_errors(tmp_path):
    """The harness itself: a page with a console error and a broken image is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><table><tbody><tr><td>1</td></tr></tbody></table>"
                   "<img src='missing.png'><script>console.error('boom');</script>"
                   + CHECKER + "</body></html>")
    res = browse(bad.as_uri(), tmp_path, "--dump-dom")
    m = re.search(r'data-check="tables=1;rows=1;images=1;loaded=(\d)"', res.stdout)
    assert m and m.group(1) == "0"
    assert any("boom" in ln for ln in console_messages(res.stderr))


def test_committed_screenshot_exists():
    shot = ROOT / "docs" / "images" / "report_screenshot.png"
    assert shot.is_file(), "run HIERMOD_UPDATE_SCREENSHOT=1 pytest tests/test_html_report.py"
    w, h = png_size(shot)
    assert w >= 800 and h >= 800
