"""The leaderboard in a real headless browser (Debian's chromium via selenium + chromedriver): the page
loads without console errors, sorting and filtering change the rows, plots render, nothing from the
results executes; a screenshot is saved under test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from saebench.leaderboard import build_site
from saebench.metrics.api import MetricValue
from saebench.results import ResultWriter
from tests.results_fixture import stamp, write_fixture

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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


def test_leaderboard_in_a_real_browser(tmp_path, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    write_fixture(tmp_path / "r")
    ResultWriter(tmp_path / "r").write_unit(
        stamp('<script>alert("x")</script>', "core", "<img src=x onerror=alert(1)>", 256),
        [MetricValue(metric="fvu", value=0.9), MetricValue(metric="l0", value=30.0)], [], 1.0)
    index = build_site([str(tmp_path / "r")], tmp_path / "site")
    browser.get(index.as_uri())

    def visible_ids():
        rows = browser.find_elements(By.CSS_SELECTOR, "#board tbody tr")
        return [r.get_attribute("data-sae") for r in rows if r.is_displayed()]

    assert len(visible_ids()) == 20
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text                 # the script-named SAE did not run

    header = next(th for th in browser.find_elements(By.CSS_SELECTOR, "#board thead th")
                  if th.text.startswith("fvu"))
    header.click()
    fvu_index = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#board thead th")].index(header.text)

    def fvus():
        rows = browser.find_elements(By.CSS_SELECTOR, "#board tbody tr")
        values = [r.find_elements(By.TAG_NAME, "td")[fvu_index].get_attribute("data-value") for r in rows
                  if r.is_displayed()]
        return [float(v) for v in values if v]

    ascending = fvus()
    assert ascending == sorted(ascending) and len(ascending) == 20
    header.click()
    assert fvus() == sorted(ascending, reverse=True)

    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="architecture"]')).select_by_value("topk")
    assert len(visible_ids()) == 6 and all(i.startswith("topk/") for i in visible_ids())
    assert browser.find_element(By.ID, "shown").text == "6"
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="width"]')).select_by_value("1024")
    assert sorted(visible_ids()) == ["topk/w1024/l0_120", "topk/w1024/l0_20", "topk/w1024/l0_50"]
    search = browser.find_element(By.ID, "search")
    search.send_keys("l0_50")
    assert visible_ids() == ["topk/w1024/l0_50"]

    svgs = browser.find_elements(By.CSS_SELECTOR, "figure svg")
    assert len(svgs) >= 4 and all(s.size["width"] > 200 and s.size["height"] > 100 for s in svgs)
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "leaderboard.png"))

    browser.find_element(By.LINK_TEXT, "topk/w1024/l0_50").click()
    assert "topk/w1024/l0_50" in browser.find_element(By.TAG_NAME, "h1").text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    browser.find_element(By.PARTIAL_LINK_TEXT, "leaderboard").click()
    assert browser.current_url.endswith("/index.html")


def test_the_published_leaderboard_is_current_and_works_in_a_browser(tmp_path, browser):
    """`leaderboard/site` is what its README's one command builds from the committed results (its table equals a
    fresh build's), and it works in a real browser: every SAE listed, the mixed-settings notice shown, the
    settings filter keeps one setting."""
    import json
    import re

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    repo = Path(__file__).resolve().parents[2]
    command = re.search(r"saebench leaderboard build (.*?) -o leaderboard/site", (repo / "leaderboard" / "README.md")
                        .read_text()).group(1).split()
    fresh = build_site([str(repo / src) for src in command], tmp_path / "fresh")
    committed = json.loads((repo / "leaderboard" / "site" / "leaderboard.json").read_text())
    rebuilt = json.loads((fresh.parent / "leaderboard.json").read_text())
    assert committed == rebuilt, "leaderboard/site is stale: rebuild it with the command in leaderboard/README.md"

    browser.get((repo / "leaderboard" / "site" / "index.html").as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "#board tbody tr")
    assert len(rows) == len(committed) and all(r.is_displayed() for r in rows)
    mixed = browser.find_elements(By.CSS_SELECTOR, 'select[data-filter^="setting-"]')
    assert bool(browser.find_elements(By.ID, "mixed-settings")) == bool(mixed)
    for box in mixed:                                    # each mixed task's filter keeps one setting
        select = Select(box)
        task = box.get_attribute("data-filter")
        minority = select.options[-1].get_attribute("value")
        select.select_by_value(minority)
        shown = [r for r in browser.find_elements(By.CSS_SELECTOR, "#board tbody tr") if r.is_displayed()]
        assert shown and len(shown) < len(rows) and all(r.get_attribute(f"data-{task}") == minority for r in shown)
        select.select_by_value("")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "published_leaderboard.png"))
    errors = [m for m in browser.get_log("browser") if m.get("level") == "SEVERE"]
    assert not errors, errors
