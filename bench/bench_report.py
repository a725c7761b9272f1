"""Benchmark ``svcprep report``: generation time per phase, size, memory, and the page in a browser.

Usage (from the repository root)::

    python bench/bench_report.py                        # 1,000 and 10,000 items (about 70 s on 2 cores)
    python bench/bench_report.py --items 1000 10000 50000
    python bench/bench_report.py --no-browser           # generation figures only
    python bench/bench_report.py --repeat 3             # 3 generations per case, the fastest reported

Never run by the test suite.

What it does
------------
1. **Input.** One small real build: the raw folder of :func:`tests.reportdata.make_raw`
   (every kind of defect, hostile names) is built once into a temporary folder with
   ``denoise.spectral_gating=false`` and ``slice.min_segment_s=1.0``, ``-j 2``, in a fresh
   process (``bench/_util.py``). For each ``--items`` N the output folder is copied and
   :func:`tests.reportdata.scale_version` (seed ``SEED``) publishes a version of N
   cloned items, about a third of them flagged with 1-3 flags (so the flagged table has
   about two thirds of N rows).
2. **Generation.** For each N, ``write_report`` runs in a **fresh Python process** (this
   script started with ``_child``) twice: with the default ``max_media`` (48) and with
   ``max_media=0``. The child records ``ReportResult.seconds`` per phase (``collect``,
   ``plots``, ``media``, ``html``), the HTML size, the numbers of media items and flagged
   rows, its CPU time and its peak resident set (``VmHWM`` from ``/proc/self/status``,
   once after the imports and once at the end; see ``bench/README.md`` for why not
   ``getrusage``). svcprep and matplotlib are imported *before* the timer, so the phase
   figures hold the work alone; ``process s`` is the whole child (what ``svcprep report``
   on the command line costs, interpreter start-up included).
3. **Media share.** ``total(default) / total(max_media=0)`` and ``media / total``: how
   much of the generation the per-item spectrograms and MP3 previews cost.
4. **Browser.** When playwright and a chromium are available (``--chromium``, default
   ``/usr/bin/chromium``), every written page is opened ``--browser-repeat`` times (5) as a
   ``file://`` URL in a *fresh page* of headless chromium. Per load: time to the end of the
   ``load`` event (``performance.getEntriesByType('navigation')[0].loadEventEnd``, from
   the start of navigation) and to ``DOMContentLoaded``, the JS heap after load
   (``performance.memory.usedJSHeapSize``, precise with ``--enable-precise-memory-info``),
   then three interactions on the flagged table, in this order, each timed in the page with
   ``performance.now()`` around the synchronous call: **next page** (``button.next``
   click, unsorted and unfiltered), **sort** (click on the ``value`` header's button: a
   full ascending sort of every row) and **filter** (``input.filter-text`` set to
   ``FILTER_QUERY`` and an ``input`` event dispatched; the table is still sorted, so this
   is filter + sort of the matches). ``script ms`` is the synchronous handler (filter,
   sort, DOM rows built); ``frame ms`` runs to the next animation frame plus a task, so
   it adds style, layout and paint but also up to one frame (~16 ms) of waiting. Console
   errors and uncaught page errors are counted over all loads and must be 0. The figures
   are medians over the loads.
5. Prints the tables and writes every figure as JSON to ``--out``/``report.json``
   (``bench/results`` is git-ignored); exit status 1 when a check failed (printed as
   ``CHECK FAILED``), 2 when the benchmark could not run.

Noisy machines: absolute seconds depend on other load (the 1-minute load average before
and after each generation is recorded); compare the ratios measured within one run.
Without chromium or playwright the browser part is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _util import machine_info, mb, peak_rss_self, run_build_subprocess, run_child, table

#: Prefix of the child's result line on stdout.
RESULT_MARK = "SVCPREP_REPORT_BENCH "
SEED = 20241201
BUILD_OVERRIDES = ["denoise.spectral_gating=false", "slice.min_segment_s=1.0"]
#: ``render_report``'s default media cap (the figure the "default" rows use).
DEFAULT_MAX_MEDIA = 48
#: What the filter benchmark types: one of the twelve cloned speakers (~1/12 of the rows).
FILTER_QUERY = "singer03"
MB = 1e6

# One interaction, timed inside the page. [selector, "click" | "input", text]. Returns the
# synchronous time, the time to the next frame (plus a task), and the table's view size.
_INTERACT_JS = """async ([sel, kind, text]) => {
  const el = document.querySelector(sel);
  if (!el) { return {error: "no element " + sel}; }
  const nextFrame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const t0 = performance.now();
  if (kind === "click") { el.click(); }
  else { el.value = text; el.dispatchEvent(new Event("input", {bubbles: true})); }
  const t1 = performance.now();
  await nextFrame();
  const t2 = performance.now();
  const t = window.svcprepReport.tables["flagged-table"];
  return {script_ms: t1 - t0, frame_ms: t2 - t0, view_rows: t.view.length};
}"""

_LOAD_JS = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  const t = window.svcprepReport && window.svcprepReport.tables["flagged-table"];
  return {
    load_ms: n.loadEventEnd,
    dcl_ms: n.domContentLoadedEventEnd,
    js_heap_bytes: performance.memory ? performance.memory.usedJSHeapSize : null,
    table_rows: t ? t.rows.length : null,
  };
}"""


# --- the child process: one report generation --------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def child_main(argv: Sequence[str]) -> int:
    """Write one report and print its figures as one JSON line (``RESULT_MARK`` + JSON).

    Parameters
    ----------
    argv
        ``OUT HTML --version V --max-media M``.

    Returns
    -------
    int
        The exit code (0).
    """
    t_process = time.perf_counter()
    ap = argparse.ArgumentParser(prog="bench_report.py _child")
    ap.add_argument("out")
    ap.add_argument("html")
    ap.add_argument("--version", required=True)
    ap.add_argument("--max-media", type=int, required=True)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    import matplotlib.figure  # noqa: F401  (imported lazily by the plots phase; kept out of its time)

    from svcprep.report import write_report

    import_seconds = time.perf_counter() - t0
    hwm_after_import = _status_kb("VmHWM")
    load_before = os.getloadavg()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    res = write_report(args.out, args.html, version=args.version, max_media=args.max_media)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "version": res.version,
        "max_media": args.max_media,
        "phase_seconds": dict(res.seconds),
        "phases_total_seconds": sum(res.seconds.values()),
        # the write_report call: the phases plus the atomic write of the file
        "write_report_seconds": wall,
        "cpu_seconds": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "import_seconds": import_seconds,
        "process_seconds": time.perf_counter() - t_process,
        "html_bytes": res.bytes,
        "media_items": res.media_items,
        "flagged_rows": res.flagged_rows,
        "loadavg_1min": [load_before[0], os.getloadavg()[0]],
        "peak_rss_bytes": peak_rss_self(),
        "peak_rss_after_import_bytes": hwm_after_import,
        "peak_rss_source": "VmHWM" if hwm_after_import is not None else "ru_maxrss",
    }
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    return 0


def run_report_subprocess(out: Path, html: Path, *, version: str, max_media: int) -> dict[str, Any]:
    """Generate one report in a fresh Python process and return the child's figures.

    Parameters
    ----------
    out
        Output folder of a build.
    html
        Where the child writes the page.
    version
        Version id to report on.
    max_media
        ``max_media`` passed to ``write_report``.

    Returns
    -------
    dict
        The child's JSON figures plus ``subprocess_seconds`` (seen from this process).

    Raises
    ------
    RuntimeError
        With the child's stderr when it fails or prints no result.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", str(out), str(html)]
    cmd += ["--version", version, "--max-media", str(max_media)]
    return run_child(cmd, mark=RESULT_MARK)


# --- the browser ----------------------------------------------------------------------------


def find_chromium(requested: str | None) -> str | None:
    """Path of a chromium executable: ``requested`` if it exists, else the first one on ``PATH``.

    Parameters
    ----------
    requested
        Path given on the command line (default ``/usr/bin/chromium``), or None.

    Returns
    -------
    str or None
        None when no chromium is found.
    """
    if requested and Path(requested).is_file():
        return requested
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def measure_pages(
    pages: dict[str, Path], *, chromium: str, repeat: int
) -> tuple[dict[str, Any] | None, str | None]:
    """Open each page ``repeat`` times in headless chromium and time loading and three interactions.

    Parameters
    ----------
    pages
        Case name -> HTML file.
    chromium
        Path of the chromium executable.
    repeat
        Fresh page loads per file; the figures are medians over them.

    Returns
    -------
    (dict or None, str or None)
        Per case: every load's figures (``loads``), their medians (``median``) and the
        console errors seen; or None and the reason the browser part was skipped.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        return None, f"playwright is not installed ({err})"
    out: dict[str, Any] = {name: {"loads": [], "console_errors": []} for name in pages}
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--enable-precise-memory-info"]
            )
        except Exception as err:  # a chromium playwright cannot drive: skip, do not crash
            return None, f"cannot start {chromium} headless: {str(err).splitlines()[0]}"
        out["browser_version"] = browser.version
        try:
            for _ in range(repeat):  # alternate the cases so drift in the machine's load hits all alike
                for name, path in pages.items():
                    out[name]["loads"].append(_one_load(browser, path, out[name]["console_errors"]))
        finally:
            browser.close()
    for name in pages:
        loads = out[name]["loads"]
        keys = [k for k in loads[0] if isinstance(loads[0][k], (int, float)) or loads[0][k] is None]
        out[name]["median"] = {k: _median([ld.get(k) for ld in loads]) for k in keys}
        out[name]["console_error_count"] = len(out[name]["console_errors"])
    return out, None


def _one_load(browser: Any, path: Path, errors: list[str]) -> dict[str, Any]:
    """One fresh page: load figures, then next page, sort by value, filter (see the module docstring)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    try:
        page.goto(path.as_uri(), wait_until="load", timeout=120_000)
        page.wait_for_function(
            "performance.getEntriesByType('navigation')[0].loadEventEnd > 0", timeout=120_000
        )
        fig: dict[str, Any] = page.evaluate(_LOAD_JS)
        t = "#flagged-table"
        steps = (
            ("next", f"{t} .pager button.next", "click", None),
            ("sort", f"{t} thead th[data-key=value] button", "click", None),
            ("filter", f"{t} input.filter-text", "input", FILTER_QUERY),
        )
        for name, sel, kind, text in steps:
            r = page.evaluate(_INTERACT_JS, [sel, kind, text])
            if "error" in r:
                errors.append(f"benchmark: {r['error']}")
                continue
            fig[f"{name}_script_ms"] = r["script_ms"]
            fig[f"{name}_frame_ms"] = r["frame_ms"]
            fig[f"{name}_view_rows"] = r["view_rows"]
            if name == "next":
                fig["page_label_after_next"] = page.inner_text(f"{t} .pager span.page")
            if name == "sort":
                fig["aria_sort_after_sort"] = page.get_attribute(f"{t} thead th[data-key=value]", "aria-sort")
    finally:
        page.close()
    return fig


# --- the run --------------------------------------------------------------------------------


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Change of ``ys`` per unit of ``xs`` between the smallest and the largest ``xs``."""
    if len(xs) < 2 or max(xs) == min(xs):
        return None
    i, j = xs.index(min(xs)), xs.index(max(xs))
    return (ys[j] - ys[i]) / (xs[j] - xs[i])


def _fmt(x: float | None, spec: str = ".2f", unit: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{unit}"


def main(argv: list[str] | None = None) -> int:
    """Run the report benchmark.

    Parameters
    ----------
    argv
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit code: 0 when every check passed, 1 when one failed.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--items", type=int, nargs="+", default=[1000, 10000], help="dataset sizes (default 1000 10000)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="generations per case; the fastest is reported")
    ap.add_argument("--browser-repeat", type=int, default=5, help="page loads per page (default 5)")
    ap.add_argument("--no-browser", action="store_true", help="skip the headless-browser part")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="chromium executable")
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="folder for report.json (default bench/results, git-ignored)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the datasets and pages (printed at the end)")
    args = ap.parse_args(argv)
    if any(n < 1 for n in args.items) or args.repeat < 1 or args.browser_repeat < 1:
        ap.error("--items, --repeat and --browser-repeat must be positive")
    sizes = sorted(set(args.items))

    from tests.reportdata import make_raw, scale_version

    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="svcprep-bench-report-"))
    checks: list[str] = []
    try:
        raw = make_raw(work)
        base = work / "base"
        print(f"building the small dataset from {raw} (-j 2) ...", flush=True)
        built = run_build_subprocess(raw, base, jobs=2, overrides=BUILD_OVERRIDES)
        if not built["items_ok"]:  # e.g. a library that does not import: every item an error record
            raise RuntimeError(f"the small build has no items; its errors: {built['error_messages']}")
        print(
            f"  {built['items_ok']} items, {built['records']} records, {built['wall_seconds']:.1f} s",
            flush=True,
        )

        versions: dict[int, tuple[Path, str, float]] = {}
        for n in sizes:
            out = work / f"out-{n}"
            shutil.copytree(base, out)
            t0 = time.perf_counter()
            vid = scale_version(out, n, seed=SEED)
            versions[n] = (out, vid, time.perf_counter() - t0)

        cases = [(n, mm) for n in sizes for mm in (DEFAULT_MAX_MEDIA, 0)]
        runs: dict[str, list[dict[str, Any]]] = {}
        for rep in range(args.repeat):
            for n, mm in cases if rep % 2 == 0 else list(reversed(cases)):
                out, vid, _ = versions[n]
                key = f"{n}/media{mm}"
                print(f"report, {n} items, max_media={mm} (run {rep + 1}/{args.repeat}) ...", flush=True)
                res = run_report_subprocess(
                    out, work / f"report-{n}-media{mm}.html", version=vid, max_media=mm
                )
                runs.setdefault(key, []).append(res)
                print(
                    f"  {res['phases_total_seconds']:.2f} s, {res['html_bytes'] / MB:.2f} MB, "
                    f"{res['media_items']} media, "
                    "load {:.1f}->{:.1f}".format(*res["loadavg_1min"]),
                    flush=True,
                )
        gen: dict[str, dict[str, Any]] = {}
        for key, rs in runs.items():
            best = min(rs, key=lambda r: r["phases_total_seconds"])
            gen[key] = {**best, "all_phases_total_seconds": [r["phases_total_seconds"] for r in rs]}

        media_share: dict[str, dict[str, float]] = {}
        for n in sizes:
            d, z = gen[f"{n}/media{DEFAULT_MAX_MEDIA}"], gen[f"{n}/media0"]
            media_share[str(n)] = {
                "total_over_no_media": d["phases_total_seconds"] / z["phases_total_seconds"],
                "media_share_of_total": d["phase_seconds"]["media"] / d["phases_total_seconds"],
                "media_seconds_per_media_item": (
                    d["phase_seconds"]["media"] / d["media_items"] if d["media_items"] else None
                ),
                "html_bytes_over_no_media": d["html_bytes"] / z["html_bytes"],
            }
            if d["media_items"] == 0:
                checks.append(f"{n} items: the default report has no media items")
            if z["media_items"] != 0:
                checks.append(f"{n} items: max_media=0 still wrote {z['media_items']} media items")
            if d["flagged_rows"] == 0:
                checks.append(f"{n} items: no flagged rows")

        # per-item costs: slope between the smallest and the largest size, media-free pages
        nz = [gen[f"{n}/media0"] for n in sizes]
        per_item = {
            "collect_ms_per_1000_items": _mul(
                _slope(sizes, [g["phase_seconds"]["collect"] for g in nz]), 1e6
            ),
            "html_phase_ms_per_1000_items": _mul(
                _slope(sizes, [g["phase_seconds"]["html"] for g in nz]), 1e6
            ),
            "total_ms_per_1000_items": _mul(_slope(sizes, [g["phases_total_seconds"] for g in nz]), 1e6),
            "html_bytes_per_item": _slope(sizes, [g["html_bytes"] for g in nz]),
            "html_bytes_per_flagged_row": _slope(
                [g["flagged_rows"] for g in nz], [g["html_bytes"] for g in nz]
            ),
            "peak_rss_mb_per_1000_items": _mul(_slope(sizes, [g["peak_rss_bytes"] for g in nz]), 1e3 / MB),
        }

        browser: dict[str, Any] | None = None
        skipped: str | None = "--no-browser"
        if not args.no_browser:
            chromium = find_chromium(args.chromium)
            if chromium is None:
                skipped = f"no chromium at {args.chromium} or on PATH"
            else:
                print(f"browser: {chromium}, {args.browser_repeat} loads per page ...", flush=True)
                pages = {key: work / f"report-{key.replace('/', '-')}.html" for key in gen}
                browser, skipped = measure_pages(pages, chromium=chromium, repeat=args.browser_repeat)
        if browser is not None:
            for key in gen:
                b = browser[key]
                if b["console_error_count"]:
                    checks.append(
                        f"{key}: {b['console_error_count']} console errors: {b['console_errors'][:3]}"
                    )
                n_rows = gen[key]["flagged_rows"]
                for ld in b["loads"]:
                    if ld.get("table_rows") != n_rows:
                        checks.append(
                            f"{key}: the page's table has {ld.get('table_rows')} rows, not {n_rows}"
                        )
                    if n_rows > 50 and "page 2 of" not in ld.get("page_label_after_next", ""):
                        checks.append(f"{key}: next page shows {ld.get('page_label_after_next')!r}")
                    if ld.get("aria_sort_after_sort") != "ascending":
                        checks.append(f"{key}: value header aria-sort {ld.get('aria_sort_after_sort')!r}")
            checks = sorted(set(checks), key=checks.index)
    except RuntimeError as err:  # a build or report child failed: no figures to report
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    result = {
        "benchmark": "report",
        "machine": machine_info(),
        "params": {
            "items": sizes,
            "repeat": args.repeat,
            "browser_repeat": args.browser_repeat,
            "seed": SEED,
            "default_max_media": DEFAULT_MAX_MEDIA,
            "filter_query": FILTER_QUERY,
            "build_overrides": BUILD_OVERRIDES,
        },
        "base_build": built,
        "scale_seconds": {str(n): v[2] for n, v in versions.items()},
        "generation": gen,
        "media_share": media_share,
        "per_item": per_item,
        "browser": browser,
        "browser_skipped": skipped if browser is None else None,
        "checks": checks,
        "run_seconds": time.perf_counter() - t_start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "report.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _print_summary(result, sizes)
    for c in checks:
        print(f"CHECK FAILED: {c}")
    print(f"results: {path} (whole run {result['run_seconds']:.0f} s)")
    if args.keep:
        print(f"datasets and pages kept in {work}")
    return 1 if checks else 0


def _mul(x: float | None, k: float) -> float | None:
    return None if x is None else x * k


def _print_summary(result: dict[str, Any], sizes: list[int]) -> None:
    gen, share, per = result["generation"], result["media_share"], result["per_item"]
    print()
    print(
        f"svcprep report benchmark (cpu_count={result['machine']['cpu_count']}; "
        "absolute seconds are noisy, compare ratios)"
    )
    print()
    rows = []
    for n in sizes:
        for mm in (DEFAULT_MAX_MEDIA, 0):
            g = gen[f"{n}/media{mm}"]
            s = g["phase_seconds"]
            rows.append(
                [
                    f"{n} items, max_media={mm}",
                    str(g["flagged_rows"]),
                    str(g["media_items"]),
                    f"{s['collect']:.2f}",
                    f"{s['plots']:.2f}",
                    f"{s['media']:.2f}",
                    f"{s['html']:.2f}",
                    f"{g['phases_total_seconds']:.2f}",
                    f"{g['cpu_seconds']:.2f}",
                    f"{g['process_seconds']:.1f}",
                    f"{g['html_bytes'] / MB:.2f}",
                    mb(g["peak_rss_bytes"]),
                    mb(g["peak_rss_bytes"] - (g["peak_rss_after_import_bytes"] or 0)),
                    "{:.1f}/{:.1f}".format(*g["loadavg_1min"]),
                ]
            )
    print(
        "generation (seconds per ReportResult phase; fresh process each; imports excluded but in process s):"
    )
    print(
        table(
            rows,
            [
                "case",
                "flagged",
                "media",
                "collect",
                "plots",
                "media s",
                "html",
                "total s",
                "cpu s",
                "process s",
                "HTML MB",
                "peak RSS",
                "over import",
                "load",
            ],
        )
    )
    print()
    for n in sizes:
        sh = share[str(n)]
        print(
            f"{n} items: total(default) / total(max_media=0) = {sh['total_over_no_media']:.2f}x; "
            f"media phase = {sh['media_share_of_total']:.0%} of the total, "
            f"{_fmt(_mul(sh['media_seconds_per_media_item'], 1e3), '.0f', ' ms')} per media item; "
            f"HTML size {sh['html_bytes_over_no_media']:.1f}x"
        )
    if len(sizes) > 1:
        print(
            f"per item ({sizes[0]} -> {sizes[-1]}, max_media=0): "
            f"collect {_fmt(per['collect_ms_per_1000_items'], '.0f')} ms / 1000 items, "
            f"html {_fmt(per['html_phase_ms_per_1000_items'], '.0f')} ms / 1000 items, "
            f"total {_fmt(per['total_ms_per_1000_items'], '.0f')} ms / 1000 items; "
            f"{_fmt(per['html_bytes_per_flagged_row'], '.0f')} HTML bytes per flagged row; "
            f"peak RSS {_fmt(per['peak_rss_mb_per_1000_items'], '.1f')} MB / 1000 items"
        )
    print()
    b = result["browser"]
    if b is None:
        print(f"browser: skipped ({result['browser_skipped']})")
        return
    rows = []
    for n in sizes:
        for mm in (DEFAULT_MAX_MEDIA, 0):
            key = f"{n}/media{mm}"
            m = b[key]["median"]
            rows.append(
                [
                    f"{n} items, max_media={mm}",
                    str(gen[key]["flagged_rows"]),
                    _fmt(m.get("dcl_ms"), ".0f"),
                    _fmt(m.get("load_ms"), ".0f"),
                    _fmt(_mul(m.get("js_heap_bytes"), 1 / MB), ".1f"),
                    _fmt(m.get("next_script_ms"), ".1f") + " / " + _fmt(m.get("next_frame_ms"), ".0f"),
                    _fmt(m.get("sort_script_ms"), ".1f") + " / " + _fmt(m.get("sort_frame_ms"), ".0f"),
                    _fmt(m.get("filter_script_ms"), ".1f") + " / " + _fmt(m.get("filter_frame_ms"), ".0f"),
                    str(b[key]["console_error_count"]),
                ]
            )
    print(
        f"browser ({b.get('browser_version', '?')}, headless; medians of "
        f"{result['params']['browser_repeat']} fresh loads; interactions as script ms / to-next-frame ms):"
    )
    print(
        table(
            rows,
            [
                "page",
                "rows",
                "DCL ms",
                "load ms",
                "JS heap MB",
                "next page",
                "sort value",
                f"filter {FILTER_QUERY!r}",
                "console errors",
            ],
        )
    )


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "_child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
