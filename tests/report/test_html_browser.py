"""report.html and the comparison page opened in a real browser: headless Chromium (Debian's `chromium`).

A probe injected into a copy of each page records JavaScript errors (uncaught, rejected promises and
console.error) and, once the page has loaded, what plotly actually drew in every chart. Chromium
prints the DOM with the probe's findings; a screenshot of each page is saved too. `.ci/run` installs
Chromium and sets WFBT_REQUIRE_BROWSER=1, so in CI a missing browser fails instead of skipping.
"""

import html
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.cli.test_run_universe import universe_args
from tests.conftest import TINY, synthetic_prices, synthetic_universe, write_long_csv, write_yahoo_csv

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
if BROWSER is None and os.environ.get("WFBT_REQUIRE_BROWSER"):
    raise RuntimeError("WFBT_REQUIRE_BROWSER is set but no chromium is on PATH: apt-get install chromium")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH (apt-get install chromium)")

PROBE_HEAD = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push('error: ' + e.message));
window.addEventListener('unhandledrejection', e => window.__errors.push('rejection: ' + e.reason));
const __consoleError = console.error;
console.error = (...a) => { window.__errors.push('console.error: ' + a.join(' ')); __consoleError(...a); };
</script>"""
PROBE_TAIL = """<pre id="wfbt-probe"></pre><script>
window.addEventListener('load', () => setTimeout(() => {
  const plots = {};
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    plots[gd.id] = {
      traces: gd.data.length,
      visible: gd.data.filter(t => t.visible !== 'legendonly' && t.visible !== false).map(t => t.name),
      drawn: gd.querySelectorAll('.scatterlayer .trace').length,
      bars: gd.querySelectorAll('.barlayer .trace .point').length,  // bars drawn (a bar chart's points)
      paths: Array.from(gd.querySelectorAll('.scatterlayer .trace path.js-line'))
                  .filter(p => (p.getAttribute('d') || '').includes('L')).length,  // a line of 2+ points
      xticks: Array.from(gd.querySelectorAll('.xtick text')).map(t => t.textContent),
      menus: (gd.layout.updatemenus || []).map(m => (m.buttons || []).map(b => b.label)),
      title: (gd.layout.title && gd.layout.title.text) || '',
    };
  }
  document.getElementById('wfbt-probe').textContent =
      JSON.stringify({errors: window.__errors, plots: plots, plotly: typeof Plotly !== 'undefined'});
}, 1000));
</script>"""

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--virtual-time-budget=15000", "--window-size=1300,2400"]


def open_in_browser(page, tmp_path, name):
    """(probe findings, screenshot path) for ``page`` rendered by headless Chromium."""
    text = page.read_text(encoding="utf-8")
    probed = tmp_path / f"{name}.probed.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE_HEAD, 1).replace("</body>", PROBE_TAIL + "</body>", 1),
                      encoding="utf-8")
    base = [BROWSER, *FLAGS, f"--user-data-dir={tmp_path / ('profile-' + name)}"]
    # Chromium's singleton socket lives in TMPDIR, which the suite points at tmp_path; a Unix socket path has
    # at most 107 bytes, and /tmp/pytest-of-root/pytest-NNNN/<test name>/... outgrows it, so give it a short one
    env = {**os.environ, "TMPDIR": tempfile.mkdtemp(prefix="wfbt-", dir="/tmp")}
    dom = subprocess.run([*base, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120, env=env)
    found = re.search(r'<pre id="wfbt-probe">(.*?)</pre>', dom.stdout, re.S)
    assert found and found.group(1), f"the probe did not report; chromium said: {dom.stderr[-2000:]}"
    shot = tmp_path / f"{name}.png"
    subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, env=env)
    shutil.rmtree(env["TMPDIR"], ignore_errors=True)
    keep = os.environ.get("WFBT_SCREENSHOT_DIR")
    if keep and shot.is_file():
        os.makedirs(keep, exist_ok=True)
        shutil.copy(shot, keep)
    return json.loads(html.unescape(found.group(1))), shot


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    csv = tmp / "p.csv"
    write_yahoo_csv(synthetic_prices(), csv)
    for name, seed in (("one", 0), ("two", 1)):
        args = ["run", "--quiet", "--out", str(tmp / "runs"), "--set", "data.source='csv'",
                "--set", f"data.path={str(csv)!r}", "--set", f"run.name={name!r}", "--set", f"run.seed={seed}"]
        for item in TINY:
            args += ["--set", item]
        args += ["--set", "forecast.models=['lstm','gru']"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    return tmp / "runs"


def test_report_draws_every_chart_without_javascript_errors(runs, tmp_path):
    report = runs / "one" / "report.html"
    size = report.stat().st_size
    assert size < 6_000_000, f"report.html is {size / 1e6:.1f} MB"
    assert "<script src=" not in report.read_text(encoding="utf-8")  # nothing fetched: opens offline
    probe, shot = open_in_browser(report, tmp_path, "report")
    assert probe["errors"] == [] and probe["plotly"]
    plots = probe["plots"]
    assert set(plots) == {"equity", "drawdown", "predictions", "losses", "insample"}
    assert set(plots["insample"]["visible"]) == {"actual", *(f"{m} {s}" for m in ("lstm", "gru")
                                                             for s in ("train", "val", "test"))}  # fold 0's
    eq = plots["equity"]
    assert eq["visible"][0] == "buy_and_hold" and len(eq["visible"]) == 6  # benchmark + the 5 best by Sharpe
    assert eq["traces"] > len(eq["visible"])  # the others are in the legend, hidden
    assert eq["drawn"] == len(eq["visible"]) and eq["paths"] == len(eq["visible"])
    assert plots["drawdown"]["paths"] == len(plots["drawdown"]["visible"])
    assert plots["predictions"]["visible"] == ["actual close", "lstm", "gru"]
    assert plots["predictions"]["paths"] == 3
    assert plots["losses"]["paths"] >= 2 * 7  # lstm: train and validation curves of its 7 folds
    ticks = plots["losses"]["xticks"]  # whole epochs, each once (not "1 1 2 2")
    assert ticks and len(ticks) == len(set(ticks)) and all(t.isdigit() for t in ticks), ticks
    assert shot.is_file() and shot.stat().st_size > 50_000


def test_comparison_page_draws_both_runs(runs, tmp_path):
    page = tmp_path / "compare.html"
    result = CliRunner().invoke(app, ["compare", str(runs / "one"), str(runs / "two"), "--html", str(page)],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    probe, shot = open_in_browser(page, tmp_path, "compare")
    assert probe["errors"] == []
    eq = probe["plots"]["compare-equity"]
    assert {"one:buy_and_hold", "two:buy_and_hold"} <= set(eq["visible"])
    assert eq["paths"] == len(eq["visible"]) >= 3
    assert shot.is_file()


def test_universe_report_draws_every_chart_without_javascript_errors(tmp_path):
    path = write_long_csv(synthetic_universe(10, 300), tmp_path / "long.csv")
    result = CliRunner().invoke(app, [*universe_args(path, tmp_path / "runs", "run.name='u'"), "--quiet"])
    assert result.exit_code == 0, result.output
    probe, shot = open_in_browser(tmp_path / "runs" / "u" / "report.html", tmp_path, "universe")
    assert probe["errors"] == [] and probe["plotly"]
    plots = probe["plots"]
    # the tables' charts, then the tear sheet's: IC and rank IC by month (heatmaps), the rank IC's distribution for
    # the one scorer with an IC (reversal: the naive score is constant), the IC decay over horizons, each scorer's
    # deciles compounded, the books before and after costs
    assert set(plots) == {"ic-daily", "ic-cumulative", "deciles", "equity", "turnover",
                          "month-0", "month-1", "dist-0", "decay", "quantiles-0", "quantiles-1", "books-cumulative"}
    assert plots["quantiles-0"]["paths"] == plots["quantiles-1"]["paths"] == 10  # every decile a line
    assert plots["books-cumulative"]["traces"] == 2 * 9  # each book after and before costs
    # drawn at first: long-short and long-only of both scorers and the benchmark, each twice; the rest in the legend
    assert plots["books-cumulative"]["paths"] == 2 * 5
    assert plots["books-cumulative"]["visible"][:2] == ["naive:long_short after costs", "naive:long_short before costs"]
    assert plots["ic-daily"]["visible"] == ["naive:rank_ic", "reversal:rank_ic"]  # Pearson IC in the legend
    assert plots["ic-daily"]["paths"] == 1  # the naive score is constant: no IC to draw
    assert plots["ic-cumulative"]["paths"] == 4  # its cumulative IC is a flat line at 0, drawn
    assert plots["deciles"]["bars"] == 2 * 10  # two scorers, ten deciles
    books = 2 * 3 + 2 + 1  # naive, reversal x 3 ranked books; reversal's rule books (forecast, vote); benchmark
    assert plots["equity"]["visible"][0] == "equal_weight" and plots["equity"]["paths"] == books
    assert plots["turnover"]["paths"] == books
    assert shot.is_file() and shot.stat().st_size > 50_000


def test_the_loss_chart_opens_on_a_trained_network_and_lists_no_baseline(tmp_path):
    """A run that lists linear before lstm: the chart opens on lstm, drawn, and its menu has no linear or drift."""
    csv = write_yahoo_csv(synthetic_prices(), tmp_path / "p.csv")
    args = ["run", "--quiet", "--out", str(tmp_path / "runs"), "--set", "data.source='csv'",
            "--set", f"data.path={str(csv)!r}", "--set", "run.name='lin'"]
    for item in TINY:
        args += ["--set", item]
    result = CliRunner().invoke(app, [*args, "--set", "forecast.models=['linear','lstm','drift']"])
    assert result.exit_code == 0, result.output
    probe, _ = open_in_browser(tmp_path / "runs" / "lin" / "report.html", tmp_path, "losses")
    losses = probe["plots"]["losses"]
    assert probe["errors"] == [] and losses["menus"] == [["lstm"]]
    assert losses["title"] == "Loss per epoch, lstm (scaled units)"
    assert losses["paths"] >= 2 * 7 and losses["paths"] == len(losses["visible"])  # train + val of 7 folds
