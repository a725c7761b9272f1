"""The report in a real headless browser (Debian's chromium, driven by playwright).

Skips when chromium or playwright is missing. With ``SVCPREP_INSTALL_CHROMIUM=1`` and
root, the fixture first installs Debian's ``chromium`` package with apt-get.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from svcprep.report import write_report

pytestmark = pytest.mark.slow


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _install_chromium() -> None:
    if os.environ.get("SVCPREP_INSTALL_CHROMIUM") != "1" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium"],
        check=False,
        env=env,
        capture_output=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    exe = _chromium()
    if exe is None:
        _install_chromium()
        exe = _chromium()
    if exe is None:
        pytest.skip("no chromium here: `apt-get install chromium` (Debian) to run the browser tests")
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(
                executable_path=exe, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
            )
        except Exception as err:  # a chromium playwright cannot drive: say so, do not fail the suite
            pytest.skip(f"cannot start {exe} headless: {err}")
        yield b
        b.close()


class _Page:
    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "request", lambda r: not r.url.startswith(("file:", "data:")) and self.problems.append(r.url)
        )
        self.page.goto(url)
        self.page.wait_for_load_state("load")

    def rows(self, table: str = "#flagged-table") -> list[list[str]]:
        rows: list[list[str]] = self.page.eval_on_selector_all(
            f"{table} tbody tr", "trs => trs.map(tr => Array.from(tr.cells).map(td => td.textContent))"
        )
        return rows

    def column(self, key: str, table: str = "#flagged-table") -> int:
        keys: list[str] = self.page.eval_on_selector_all(
            f"{table} thead th", "ths => ths.map(t => t.dataset.key)"
        )
        return keys.index(key)


@pytest.fixture(scope="module")
def report_page(browser, report_dataset, tmp_path_factory) -> Iterator[_Page]:
    path = tmp_path_factory.mktemp("html") / "report.html"
    write_report(report_dataset.out, path, version="v0002")
    p = _Page(browser, path.as_uri())
    yield p
    p.page.close()


def _num(text: str) -> float:
    return float("inf") if text == "–" else float(text)


def test_page_loads_without_console_errors_or_requests_and_runs_nothing_from_the_data(report_page) -> None:
    assert report_page.problems == []
    assert report_page.page.evaluate("typeof window.svcprepReport") == "object", "the page script ran"
    assert report_page.page.evaluate("window.__xss === undefined"), "a name in the data ran as code"
    from tests.reportdata import HOSTILE_SPEAKER

    assert HOSTILE_SPEAKER in report_page.page.inner_text("#speakers"), "shown as text"


def test_flagged_table_sorts_filters_and_links_to_the_evidence(report_page) -> None:
    p = report_page
    rows = p.rows()
    assert len(rows) == 2 and {r[p.column("flag")] for r in rows} == {"clipping", "exact_duplicate"}
    col = p.column("severity")
    header = p.page.locator("#flagged-table thead th").nth(col)
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    vals = [_num(r[col]) for r in p.rows()]
    assert vals == sorted(vals)
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    vals = [_num(r[col]) for r in p.rows()]
    assert vals == sorted(vals, reverse=True)

    p.page.fill("#flagged-table input.filter-text", "hot")
    rows = p.rows()
    assert len(rows) == 1 and rows[0][0].startswith("ben/hot.wav")
    p.page.fill("#flagged-table input.filter-text", "")
    p.page.select_option("#flagged-table select.filter-flag", "exact_duplicate")
    rows = p.rows()
    assert len(rows) == 1 and rows[0][p.column("duplicate_of")].startswith("ann/take1.wav")
    p.page.select_option("#flagged-table select.filter-flag", "")
    # a flag name in the counts table filters the table to it
    p.page.click('button[data-show-flag="clipping"]')
    assert p.page.input_value("#flagged-table select.filter-flag") == "clipping"
    assert [r[p.column("flag")] for r in p.rows()] == ["clipping"]
    # the item links to its spectrogram and audio
    href = p.page.get_attribute("#flagged-table tbody tr a", "href")
    assert href and href.startswith("#m")
    assert p.page.locator(f"{href} img").count() == 1 and p.page.locator(f"{href} audio").count() >= 1
    # records not in the dataset: the undecodable file and the silent one
    p.page.select_option("#other-table select.filter-status", "error")
    assert [r[0] for r in p.rows("#other-table")] == ["ben/broken.wav"]


def test_audio_players_decode_their_clips(report_page) -> None:
    durations: list[float] = report_page.page.evaluate(
        """async () => Promise.all(Array.from(document.querySelectorAll('audio')).map(a => new Promise(ok => {
            a.addEventListener('loadedmetadata', () => ok(a.duration), {once: true});
            a.addEventListener('error', () => ok(-1), {once: true});
            a.preload = 'auto'; a.load();
        })))"""
    )
    assert len(durations) == 3
    assert all(d > 1.0 for d in durations), durations


def test_screenshot_shows_the_page(report_page, tmp_path) -> None:
    from PIL import Image

    png = report_page.page.screenshot(full_page=True)
    (tmp_path / "report.png").write_bytes(png)
    im = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = im.size
    assert w == 1280 and h > 2000, "summary, speakers, flags, evidence and changes make a long page"
    px = np.asarray(im, dtype=np.float64)
    assert px.std() > 25, "not a blank page"
    colours = len(np.unique(px.reshape(-1, 3)[::7].astype(np.uint8), axis=0))
    assert colours > 500, "charts and spectrograms are drawn (not only text)"
    # each quarter of the page holds something
    for k in range(4):
        band = px[k * h // 4 : (k + 1) * h // 4]
        assert band.std() > 10, f"quarter {k + 1} of the page is blank"


def test_ten_thousand_items_page_through_and_sort(browser, big_report) -> None:
    p = _Page(browser, big_report.html_path.as_uri())
    try:
        assert p.problems == []
        total = p.page.evaluate("window.svcprepReport.tables['flagged-table'].rows.length")
        assert total > 3000
        assert len(p.rows()) == 50, "one page of 50 rows in the DOM, not all of them"
        label = p.page.inner_text("#flagged-table .page")
        assert label.endswith(f"of {-(-total // 50)}")
        p.page.click("#flagged-table button.next")
        assert "rows 51–100" in p.page.inner_text("#flagged-table .page")
        col = p.column("value")
        p.page.locator("#flagged-table thead th").nth(col).locator("button").click()
        first = [_num(r[col]) for r in p.rows()]
        assert first == sorted(first) and "page 1" in p.page.inner_text("#flagged-table .page")
        p.page.select_option("#flagged-table select.page-size", "500")
        assert len(p.rows()) == 500
        p.page.select_option("#flagged-table select.filter-speaker", "singer03")
        rows = p.rows()
        assert rows and {r[p.column("speaker")] for r in rows} == {"singer03"}
        assert p.problems == []
    finally:
        p.page.close()
