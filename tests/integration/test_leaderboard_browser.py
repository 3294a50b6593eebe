"""The leaderboard in a real headless browser (Debian's chromium via selenium + chromedriver): the page loads
without console errors; sorting, filters, column choice, the "indistinguishable from the best" marks, the plot
explorer (hover shows the SAE, axis choice changes the plot, drag zooms, click compares) and a URL restoring a view
all work; nothing from the results executes; the published leaderboard is current and fits 1400 px; 10,000 SAEs
load and filter within seconds. Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest

from saebench.leaderboard import build_site
from saebench.metrics.api import MetricValue
from saebench.results import ResultWriter
from tests.results_fixture import stamp, write_fixture

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1800"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser, url: str) -> None:
    """A fresh load of `url` (never a same-document hash change) that waits for the page's script."""
    browser.get("about:blank")
    browser.get(url)
    assert browser.execute_script("return document.body.getAttribute('data-ready')") == "1"


def _visible_ids(browser):
    from selenium.webdriver.common.by import By

    return [r.get_attribute("data-sae") for r in browser.find_elements(By.CSS_SELECTOR, "#board tbody tr")]


def _column(browser, key):
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, f'#board tbody td[data-key="{key}"]')
    return [float(c.get_attribute("data-value")) for c in cells if c.get_attribute("data-value")]


def _compared(browser):
    from selenium.webdriver.common.by import By

    return [th.get_attribute("data-sae") for th in browser.find_elements(By.CSS_SELECTOR, "#compare-grid th[data-sae]")]


def _severe(browser):
    return [m for m in browser.get_log("browser") if m.get("level") == "SEVERE"]


def test_leaderboard_in_a_real_browser(tmp_path, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    truth = write_fixture(tmp_path / "r")
    ResultWriter(tmp_path / "r").write_unit(
        stamp('<script>alert("x")</script>', "core", "<img src=x onerror=alert(1)>", 256),
        [MetricValue(metric="fvu", value=0.9), MetricValue(metric="l0", value=30.0)], [], 1.0)
    index = build_site([str(tmp_path / "r")], tmp_path / "site")
    _open(browser, index.as_uri())
    assert len(_visible_ids(browser)) == 20
    assert _severe(browser) == []
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text                 # the script-named SAE did not run

    # sorting
    header = browser.find_element(By.CSS_SELECTOR, '#board tr.columns th[data-key="core/fvu"]')
    header.click()
    ascending = _column(browser, "core/fvu")
    assert ascending == sorted(ascending) and len(ascending) == 20
    browser.find_element(By.CSS_SELECTOR, '#board tr.columns th[data-key="core/fvu"]').click()
    assert _column(browser, "core/fvu") == sorted(ascending, reverse=True)

    # "indistinguishable from the best" (known answer): ce_loss_score has stderr 0.002 on every SAE and no noise
    # floor, so a value is marked when within 2 * sqrt(2) * 0.002 of the best; fvu has no stderr: only the best
    ce = {sae: 1 - t["fvu"] / 4 for sae, t in truth.items()}
    best = max(ce.values())
    expected = {sae: ("best" if v == best else "near" if best - v <= 2 * math.sqrt(2) * 0.002 else "")
                for sae, v in ce.items()}
    marked = {}
    for row in browser.find_elements(By.CSS_SELECTOR, "#board tbody tr:not(.baseline)"):
        cell = row.find_elements(By.CSS_SELECTOR, 'td[data-key="core/ce_loss_score"]')[0]
        if cell.get_attribute("data-value"):
            classes = cell.get_attribute("class").split()
            marked[row.get_attribute("data-sae")] = next((c for c in ("best", "near") if c in classes), "")
    assert marked == expected and "near" in marked.values()
    fvu_best = [r.get_attribute("data-sae") for r in browser.find_elements(By.CSS_SELECTOR, "#board tbody tr")
                if "best" in r.find_elements(By.CSS_SELECTOR, 'td[data-key="core/fvu"]')[0].get_attribute("class")]
    assert fvu_best == [min(truth, key=lambda s: truth[s]["fvu"])]

    # filters and search, kept in the URL
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="architecture"]')).select_by_value("topk")
    assert len(_visible_ids(browser)) == 6 and all(i.startswith("topk/") for i in _visible_ids(browser))
    assert browser.find_element(By.ID, "shown").text == "6"
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="width"]')).select_by_value("1024")
    assert sorted(_visible_ids(browser)) == ["topk/w1024/l0_120", "topk/w1024/l0_20", "topk/w1024/l0_50"]
    browser.find_element(By.ID, "search").send_keys("l0_50")
    WebDriverWait(browser, 5).until(lambda d: d.find_element(By.ID, "shown").text == "1")
    assert _visible_ids(browser) == ["topk/w1024/l0_50"]
    url = browser.current_url
    assert "architecture=topk" in url and "width=1024" in url and "q=l0_50" in url

    # column choice: hide one, show the model column
    browser.find_element(By.CSS_SELECTOR, "#column-chooser summary").click()
    browser.find_element(By.CSS_SELECTOR, '#column-list input[value="core/kl_div_score"]').click()
    browser.find_element(By.CSS_SELECTOR, '#column-list input[value="model"]').click()
    keys = [th.get_attribute("data-key") for th in browser.find_elements(By.CSS_SELECTOR, "#board tr.columns th")]
    assert "core/kl_div_score" not in keys and "model" in keys and "hook" not in keys

    # a shared URL restores filters, sort, axes and the comparison in a fresh page
    view = (index.as_uri() + "#architecture=topk&sort=-core%2Ffvu&y=" + quote("core/ce_loss_score", safe="")
            + "&cmp=" + quote("topk/w4096/l0_50", safe="") + "&cmp=" + quote("topk/w1024/l0_20", safe=""))
    _open(browser, view)
    ids = _visible_ids(browser)
    assert len(ids) == 6 and _column(browser, "core/fvu") == sorted(_column(browser, "core/fvu"), reverse=True)
    assert Select(browser.find_element(By.ID, "plot-y")).first_selected_option.get_attribute("value") == \
        "core/ce_loss_score"
    plot = browser.find_element(By.CSS_SELECTOR, "svg.explorer")
    assert plot.get_attribute("data-y") == "core/ce_loss_score" and plot.get_attribute("data-x") == "l0"
    assert _compared(browser) == ["topk/w4096/l0_50", "topk/w1024/l0_20"]
    fvu_row = browser.find_element(By.CSS_SELECTOR, '#compare-grid tr[data-key="core/fvu"]')
    bold = [td.get_attribute("data-value") for td in fvu_row.find_elements(By.CSS_SELECTOR, "td.best")]
    assert bold == [repr(min(truth["topk/w4096/l0_50"]["fvu"], truth["topk/w1024/l0_20"]["fvu"]))]
    picked = {c.get_attribute("data-sae") for c in browser.find_elements(By.CSS_SELECTOR, "svg.explorer .point.picked")}
    assert picked == {"topk/w4096/l0_50", "topk/w1024/l0_20"}

    # hover shows the SAE's id
    point = browser.find_element(By.CSS_SELECTOR, 'svg.explorer circle.point[data-sae="topk/w1024/l0_120"]')
    ActionChains(browser).move_to_element(point).perform()
    tip = browser.find_element(By.ID, "tooltip")
    assert tip.is_displayed() and tip.find_element(By.CLASS_NAME, "tip-id").text == "topk/w1024/l0_120"
    assert "core: ce_loss_score" in tip.text and "± 0.002" in tip.text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script("document.getElementById('explore').scrollIntoView()")
    assert browser.save_screenshot(str(ARTIFACTS / "leaderboard_plot_hover.png"))

    # axis choice changes the plot: ce_loss_score = 1 - fvu / 4, so the order of the points flips
    def heights():
        return {c.get_attribute("data-sae"): float(c.get_attribute("cy"))
                for c in browser.find_elements(By.CSS_SELECTOR, "svg.explorer circle.point")}

    on_ce = heights()
    Select(browser.find_element(By.ID, "plot-y")).select_by_value("core/fvu")
    assert browser.find_element(By.CSS_SELECTOR, "svg.explorer").get_attribute("data-y") == "core/fvu"
    on_fvu = heights()
    assert set(on_ce) == set(on_fvu) and len(on_fvu) == 6
    order_ce = sorted(on_ce, key=on_ce.get)
    assert sorted(on_fvu, key=on_fvu.get) == order_ce[::-1]
    assert "y=" not in browser.current_url                       # fvu is the default y axis

    # drag to zoom: the URL keeps the zoom and fewer points lie inside the frame; double-click resets
    frame = browser.find_element(By.CSS_SELECTOR, "svg.explorer rect.frame")

    def inside():
        box = browser.execute_script(
            "var f=document.querySelector('svg.explorer rect.frame').getBBox();return [f.x,f.y,f.width,f.height];")
        return sum(1 for c in browser.find_elements(By.CSS_SELECTOR, "svg.explorer circle.point")
                   if box[0] <= float(c.get_attribute("cx")) <= box[0] + box[2]
                   and box[1] <= float(c.get_attribute("cy")) <= box[1] + box[3])

    assert inside() == 6
    w, h = frame.size["width"], frame.size["height"]
    ActionChains(browser).move_to_element_with_offset(frame, -w // 2 + 2, -h // 2 + 2).click_and_hold() \
        .move_by_offset(w // 3, h - 4).release().perform()
    assert "zoom=" in browser.current_url and 0 < inside() < 6
    ActionChains(browser).double_click(browser.find_element(By.CSS_SELECTOR, "svg.explorer rect.frame")).perform()
    assert "zoom=" not in browser.current_url and inside() == 6

    # "download this plot as SVG" gives a standalone SVG file: styled by attributes, every point with its SAE
    browser.execute_script("window.__svg = null; URL.createObjectURL = function (blob) {"
                           "  blob.text().then(function (t) { window.__svg = t; }); return 'data:,'; };")
    browser.find_element(By.CSS_SELECTOR, "figure.panel a.download").click()
    WebDriverWait(browser, 5).until(lambda d: d.execute_script("return window.__svg"))
    text = browser.execute_script("return window.__svg")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    svg_root = ET.fromstring(text.split("?>", 1)[1])
    ns = "{http://www.w3.org/2000/svg}"
    assert svg_root.tag == f"{ns}svg" and svg_root.get("font-family") == "sans-serif"
    frame_el = next(r for r in svg_root.iter(f"{ns}rect") if r.get("class") == "frame")
    assert frame_el.get("fill") == "none"
    assert {c.get("data-sae") for c in svg_root.iter(f"{ns}circle")} == set(on_fvu)
    assert not [r for r in svg_root.iter(f"{ns}rect") if r.get("class") == "zoom-box"]

    # the shown SAEs as CSV: the filtered rows in the table's order, every column with its stderr
    browser.execute_script("window.__csv = null; URL.createObjectURL = function (blob) {"
                           "  blob.text().then(function (t) { window.__csv = t; }); return 'data:,'; };")
    browser.find_element(By.ID, "download-csv").click()
    WebDriverWait(browser, 5).until(lambda d: d.execute_script("return window.__csv"))
    table = list(csv.DictReader(io.StringIO(browser.execute_script("return window.__csv"))))
    assert [r["sae_id"] for r in table] == _visible_ids(browser) and len(table) == 6
    first = table[0]
    assert float(first["core/fvu"]) == truth[first["sae_id"]]["fvu"] and first["core/ce_loss_score:stderr"] == "0.002"

    # clicking a point adds it to the comparison; so does Enter on a point reached by the keyboard
    browser.find_element(By.ID, "compare-clear").click()
    assert not browser.find_element(By.ID, "compare").is_displayed()
    browser.find_element(By.CSS_SELECTOR, 'svg.explorer circle.point[data-sae="topk/w4096/l0_20"]').click()
    assert _compared(browser) == ["topk/w4096/l0_20"] and "cmp=" in browser.current_url
    point = browser.find_element(By.CSS_SELECTOR, 'svg.explorer circle.point[data-sae="topk/w1024/l0_50"]')
    browser.execute_script("arguments[0].focus()", point)
    assert browser.find_element(By.CSS_SELECTOR, "#tooltip .tip-id").text == "topk/w1024/l0_50"
    point.send_keys(Keys.ENTER)
    assert _compared(browser) == ["topk/w4096/l0_20", "topk/w1024/l0_50"]

    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(ARTIFACTS / "leaderboard.png"))
    browser.find_element(By.LINK_TEXT, "topk/w1024/l0_50").click()
    assert "topk/w1024/l0_50" in browser.find_element(By.TAG_NAME, "h1").text
    assert _severe(browser) == []
    browser.find_element(By.PARTIAL_LINK_TEXT, "leaderboard").click()
    assert browser.current_url.endswith("/index.html")


def test_the_published_leaderboard_is_current_and_works_in_a_browser(tmp_path, browser):
    """`leaderboard/site` is what its README's one command builds from the committed results (its table equals a
    fresh build's), and it works in a real browser: every SAE listed, verdict / parity / contested marks shown,
    the table fits a 1400 px window without horizontal scrolling, each model gets its own plot."""
    import re

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    command = re.search(r"saebench leaderboard build (.*?) -o leaderboard/site", (REPO / "leaderboard" / "README.md")
                        .read_text()).group(1).split()
    sources = [a for a in command if not a.startswith("--")]
    validity = [command[i + 1] for i, a in enumerate(command) if a == "--validity"]
    sources = [s for s in sources if s not in validity]
    fresh = build_site([str(REPO / s) for s in sources], tmp_path / "fresh",
                       validity=[str(REPO / v) for v in validity], static_plots=False)
    committed = json.loads((REPO / "leaderboard" / "site" / "leaderboard.json").read_text())
    rebuilt = json.loads((fresh.parent / "leaderboard.json").read_text())
    assert committed == rebuilt, "leaderboard/site is stale: rebuild it with the command in leaderboard/README.md"

    _open(browser, (REPO / "leaderboard" / "site" / "index.html").as_uri())
    assert len(_visible_ids(browser)) == len(committed)
    scroll = browser.execute_script("var s = document.getElementById('table-scroll');"
                                    "return [s.scrollWidth, s.clientWidth];")
    assert scroll[0] <= scroll[1], f"the table scrolls sideways at 1400 px: {scroll}"
    verdicts = {th.get_attribute("data-key"): th.find_element(By.CSS_SELECTOR, "[data-verdict]").get_attribute(
        "data-verdict") for th in browser.find_elements(By.CSS_SELECTOR, "#board tr.columns th.metric")}
    assert verdicts["core/fvu"] == "separates" and verdicts["scr/scr@20"] == "does not separate"
    assert browser.find_elements(By.CSS_SELECTOR, '#board th[data-key="tpp/tpp@20"] [data-status="contested"]')
    assert browser.find_elements(By.CSS_SELECTOR, '#board th[data-key="core/ce_loss_score"] [data-parity="equal"]')
    models = {f.get_attribute("data-model") for f in browser.find_elements(By.CSS_SELECTOR, "figure.panel")}
    assert {"orgllama", "stories260K"} <= models
    mixed = browser.find_elements(By.CSS_SELECTOR, 'select[data-filter^="setting-"]')
    assert bool(browser.find_elements(By.ID, "mixed-settings")) == bool(mixed)
    for box in mixed:                                    # each mixed task's filter keeps one setting
        select = Select(box)
        task = box.get_attribute("data-filter")
        minority = select.options[-1].get_attribute("value")
        select.select_by_value(minority)
        shown = browser.find_elements(By.CSS_SELECTOR, "#board tbody tr")
        assert shown and len(shown) < len(committed) and all(r.get_attribute(f"data-{task}") == minority for r in shown)
        select.select_by_value("")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "published_leaderboard.png"))
    preset = Select(browser.find_element(By.ID, "preset"))
    preset.select_by_visible_text(next(o.text for o in preset.options if o.text.startswith("orgllama")))
    browser.execute_script("document.getElementById('explore').scrollIntoView()")
    browser.save_screenshot(str(ARTIFACTS / "published_explorer.png"))
    assert all(r.startswith(("orgllama/", "known/", "control/")) for r in _visible_ids(browser))
    keys = [th.get_attribute("data-key") for th in browser.find_elements(By.CSS_SELECTOR, "#board tr.columns th")]
    assert "core/fvu" in keys and "unlearning/unlearning_score" in keys and "scr/scr@20" not in keys   # no values
    assert "scr/scr@20" in browser.find_element(By.ID, "page-note").text
    # the synthetic model has no core: its preset's plots fall back to its first metric instead of opening empty
    preset.select_by_visible_text(next(o.text for o in preset.options if o.text.startswith("synthetic:synth_ci")))
    plots = browser.find_elements(By.CSS_SELECTOR, "svg.explorer")
    assert [p.get_attribute("data-y") for p in plots] == ["ground_truth/mcc"]
    assert len(plots[0].find_elements(By.CSS_SELECTOR, "circle.point")) == 20
    assert Select(browser.find_element(By.ID, "plot-y")).first_selected_option.get_attribute("value") == \
        "ground_truth/mcc"
    assert _severe(browser) == []


def test_ten_thousand_saes_load_and_filter_within_seconds(tmp_path, browser):
    """A 10,000-SAE sweep (2 models x 5 hooks x 4 widths x 5 architectures x 50 L0s): the page is interactive within
    5 s of navigation and a filter, a search and a sort each answer within 2 s (measured on the 2-core CI machine;
    the figures are written to test-artifacts/leaderboard_scale.json)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.large_results import write_large_results

    t0 = time.perf_counter()
    n = write_large_results(tmp_path / "r")
    t1 = time.perf_counter()
    index = build_site([str(tmp_path / "r")], tmp_path / "site")
    t2 = time.perf_counter()
    assert n == 10_000
    browser.get("about:blank")
    start = time.perf_counter()
    browser.get(index.as_uri())
    ready = browser.execute_script("return document.body.getAttribute('data-ready')")
    load_s = time.perf_counter() - start
    assert ready == "1" and browser.find_element(By.ID, "total").text == "10000"
    assert len(_visible_ids(browser)) == 200                     # the table pages; the plots show every SAE
    points = len(browser.find_elements(By.CSS_SELECTOR, "svg.explorer circle.point"))
    assert points == 10_000
    panels = {(f.get_attribute("data-model"), f.get_attribute("data-hook"))
              for f in browser.find_elements(By.CSS_SELECTOR, "figure.panel")}
    assert len(panels) == 10                                     # one per model and hook: 2 x 5

    def timed(action, expect):
        begin = time.perf_counter()
        action()
        WebDriverWait(browser, 10, poll_frequency=0.02).until(
            lambda d: d.find_element(By.ID, "shown").text == expect)
        return time.perf_counter() - begin

    filter_s = timed(lambda: Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="model"]'))
                     .select_by_value("pythia-160m"), "5000")
    search_s = timed(lambda: browser.find_element(By.ID, "search").send_keys("jumprelu/w65536"), "250")
    sort_s = timed(lambda: browser.find_element(By.CSS_SELECTOR, '#board tr.columns th[data-key="core/fvu"]').click(),
                   "250")
    values = _column(browser, "core/fvu")
    assert values == sorted(values) and len(values) == 200
    figures = {"saes": n, "write_results_s": round(t1 - t0, 2), "build_site_s": round(t2 - t1, 2),
               "index_html_mb": round(index.stat().st_size / 2**20, 2), "load_to_interactive_s": round(load_s, 2),
               "filter_s": round(filter_s, 2), "search_s": round(search_s, 2), "sort_s": round(sort_s, 2)}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "leaderboard_scale.json").write_text(json.dumps(figures, indent=1))
    browser.save_screenshot(str(ARTIFACTS / "leaderboard_10k.png"))
    assert load_s < 5 and max(filter_s, search_s, sort_s) < 2, figures
    assert _severe(browser) == []
