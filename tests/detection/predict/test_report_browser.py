"""report.html in a real browser (Debian's headless Chromium through Playwright): the drawn
segments match the timeline CSV, hovering shows a segment's name and score, and clicking
one seeks the player. Skips with a message where Chromium or Playwright is missing
(``make test`` installs Chromium where apt-get runs as root)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detection.predict.exports import write_timeline_csv
from detection.predict.report import ReportVideo, write_report
from detection.predict.video import VideoPrediction
from perception.video import probe_video
from tests.conftest import CHROMIUM, write_test_video

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(
            f"Chromium not installed at {CHROMIUM} (apt-get install chromium; make test does it as root)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install -e .[dev])"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def report(tmp_path):
    """A 4 s video in a folder with a space and a non-ASCII name, detections made here, and
    the report plus timeline CSV written beside each other like a predict run writes them."""
    video = write_test_video(tmp_path / "my vidéos" / "clip 1.mp4", frames=100, size=(96, 64), rate=25)
    detections = pd.DataFrame(
        {
            "video_id": "clip 1",
            "t_start": [0.4, 1.1, 2.25, 0.0, 3.0],
            "t_end": [1.6, 1.9, 3.5, 0.8, 3.96],
            "class": [9, 10, 19, 48, 9],
            "score": [0.91, 0.72, 0.55, 0.33, 0.2],
        }
    )
    info = probe_video(video)
    prediction = VideoPrediction("clip 1", info, detections, 4.0, np.arange(100) / 25, 7.5, None, None)
    run = tmp_path / "run"
    write_timeline_csv(prediction, run / "timelines" / "clip 1.csv")
    truth = detections[["video_id", "t_start", "t_end", "class"]].iloc[[0, 2]]
    write_report(run / "report.html", [ReportVideo("clip 1", video, 4.0, detections, truth=truth)])
    return run


def test_report_segments_match_the_csv_and_a_click_seeks_the_video(browser, report):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((report / "report.html").as_uri())
    page.wait_for_function("document.querySelector('video').readyState >= 1", timeout=15_000)
    assert page.evaluate("document.querySelector('video').duration") == pytest.approx(4.0, abs=0.05)

    drawn = page.evaluate(
        """() => [...document.querySelectorAll('rect.seg.pred')].map(r => {
            const svg = r.ownerSVGElement, box = r.getBBox();
            return {start: +r.dataset.start, end: +r.dataset.end, cls: +r.dataset.class,
                    score: +r.dataset.score, name: r.dataset.name, x: box.x, w: box.width,
                    x0: +svg.dataset.x0, width: +svg.dataset.width, duration: +svg.dataset.duration};
        })"""
    )
    csv = pd.read_csv(report / "timelines" / "clip 1.csv")
    assert sorted((d["cls"], d["start"], d["end"]) for d in drawn) == sorted(
        zip(csv["class"], csv["start"], csv["end"], strict=True)
    )
    by_start = {round(d["start"], 3): d for d in drawn}
    for row in csv.itertuples(index=False):
        segment = by_start[round(row.start, 3)]
        assert segment["name"] == row.name and segment["score"] == pytest.approx(row.score, abs=1e-3)
        # geometry: the rectangle spans the segment's seconds on the time axis
        scale = segment["width"] / segment["duration"]
        assert segment["x"] == pytest.approx(segment["x0"] + row.start * scale, abs=0.05)
        assert segment["w"] == pytest.approx((row.end - row.start) * scale, abs=0.05)
    assert page.locator("rect.seg.gt").count() == 2

    target = page.locator("rect.seg.pred[data-start='2.250']")
    target.hover()
    tooltip = page.locator("#tooltip")
    assert tooltip.is_visible() and "C5 waving" in tooltip.inner_text() and "0.550" in tooltip.inner_text()
    target.click()
    page.wait_for_function(
        "Math.abs(document.querySelector('video').currentTime - 2.25) < 0.05", timeout=10_000
    )
    page.wait_for_function("!document.querySelector('video').seeking", timeout=10_000)
    playhead = float(page.locator(".playhead").get_attribute("x1"))
    assert playhead == pytest.approx(by_start[2.25]["x"], abs=0.5)
    assert errors == []
    page.close()
