"""The run report: figures on known votes, and the page itself in real Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from environment.outputs.report import fleiss_kappa
from renderers.chromium import CHROMIUM_FLAGS, chromium_path
from tests.conftest import ROOT, ink_share, png_image, write_scenario


def test_fleiss_kappa_on_known_cases() -> None:
    assert fleiss_kappa([[True, True, True], [False, False, False]]) == pytest.approx(1.0)
    # Wikipedia-style hand check: two items, raters split 2-1 and 1-2 → kappa = -1/3
    assert fleiss_kappa([[True, True, False], [True, False, False]]) == pytest.approx(-1 / 3)
    assert fleiss_kappa([]) is None


def test_report_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "report", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "not a run folder" in result.stderr


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    scenario = write_scenario(folder, target=6)
    run_dir = folder / "run"
    subprocess.run(
        [sys.executable, str(ROOT / "run.py"), str(scenario), "--quiet", "--out", str(run_dir)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    made = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "report", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return run_dir / "report.html"


def test_report_holds_the_figures(report: Path) -> None:
    text = report.read_text()
    assert "Fleiss&#x27; kappa" in text and "<svg" in text and "juror" in text
    assert "Jury study" in text and "Best for no more calls" in text
    assert 'aria-label="jury study: precision against juror calls"' in text
    assert "http" not in text.split("<body>")[1]
    # Simulated jurors with the oracle's truth never abstain: every count is there, and 0.
    abstentions = text.split("abstentions per juror: ")[1].split(";")[0]
    assert abstentions.count(" 0") == 3, abstentions
    assert "pairs undecided (fewer votes than the quorum): 0" in text


async def test_report_page_filters_and_stays_offline(report: Path) -> None:
    requests: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path()), args=CHROMIUM_FLAGS
        )
        page = await browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        await page.goto(report.as_uri())
        shot = await page.screenshot()
        total = await page.locator("div.pair:visible").count()
        await page.select_option("#f-verdict", "rejected")
        rejected = await page.locator("div.pair:visible").count()
        await page.select_option("#f-verdict", "accepted")
        accepted = await page.locator("div.pair:visible").count()
        await browser.close()
    assert ink_share(png_image(shot)) > 0.01
    assert total > 0 and accepted + rejected == total
    assert rejected < total and accepted < total
    assert all(url.startswith(("file://", "data:")) for url in requests), requests
