"""``report.html``: every predicted video with its micro-action timeline, in one offline page.

For each video: the player (the video itself by relative link, or the preview copy when a
browser cannot play the original), and below it a timeline with one lane per body group,
predicted segments coloured by class (overlapping ones stacked in sub-rows), ground-truth
lanes above them when annotations were given, a playhead that follows the video, a tooltip
with name, score and times on hover, and a click on a segment seeks the player to its start.
Then the legend of the classes shown and, when evaluated, the mAP table.

The page is self-contained: the timeline is SVG drawn here (readable without scripts), one
small inline script adds the interaction, nothing is fetched from a network. Each segment
``<rect>`` carries its detection in ``data-*`` attributes, which the browser test compares
with the timeline CSV.
"""

from __future__ import annotations

import colorsys
import html
import os
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from detection.predict.elan import pack_lanes
from perception.atomic import atomic_write_text
from perception.taxonomy import ACTIONS, BODY_GROUPS, action

WIDTH, LABEL, RIGHT = 1000.0, 120.0, 10.0  # SVG user units: total width, lane-label column, margin
ROW, GAP, AXIS = 12.0, 6.0, 22.0  # height of one segment row, space between lanes, time axis


def class_colour(index: int) -> str:
    """A fixed colour per class: hues spread by the golden ratio so neighbours differ."""
    hue = (index * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hls_to_rgb(hue, 0.5, 0.65)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


@dataclass
class ReportVideo:
    """What the report shows of one video."""

    video_id: str
    media: Path  # the file the player loads (the original or its preview copy)
    duration: float
    detections: pd.DataFrame  # submission columns
    truth: pd.DataFrame | None = None  # GT columns (video_id, t_start, t_end, class) or None
    notes: list[str] = field(default_factory=list)


def _ticks(duration: float) -> list[float]:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if duration / step <= 12:
            break
    count = int(duration // step) + 1
    return [i * step for i in range(count)]


def _x(seconds: float, duration: float) -> float:
    plot = WIDTH - LABEL - RIGHT
    return LABEL + plot * min(max(seconds / duration, 0.0), 1.0) if duration > 0 else LABEL


def _rects(table: pd.DataFrame, kind: str, duration: float, top: float) -> tuple[list[str], float]:
    """SVG rects of one lane's segments, stacked so none overlap; returns (rects, lane height)."""
    starts, ends = table["t_start"].tolist(), table["t_end"].tolist()
    rows = pack_lanes([(round(s * 1000), round(e * 1000)) for s, e in zip(starts, ends, strict=True)])
    scores = table["score"].tolist() if "score" in table else [1.0] * len(table)
    strongest = max(scores, default=1.0) or 1.0
    out = []
    for start, end, label, score, row in zip(
        starts, ends, table["class"].tolist(), scores, rows, strict=True
    ):
        micro = action(int(label))
        x0, x1 = _x(start, duration), _x(end, duration)
        attrs = {
            "class": f"seg {kind}",
            "x": f"{x0:.3f}",
            "y": f"{top + row * ROW:.1f}",
            "width": f"{max(x1 - x0, 0.5):.3f}",
            "height": f"{ROW - 1:.1f}",
            "fill": class_colour(micro.index),
            # weaker detections fade, so the confident ones stand out in a busy lane
            "fill-opacity": "0.55" if kind == "gt" else f"{0.3 + 0.7 * score / strongest:.2f}",
            "data-kind": kind,
            "data-start": f"{start:.3f}",
            "data-end": f"{end:.3f}",
            "data-class": str(micro.index),
            "data-code": micro.code,
            "data-name": micro.name,
            "data-body": micro.body.name,
            "data-score": f"{score:.4f}",
        }
        text = " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items())
        title = f"{micro.code} {micro.name}" + ("" if kind == "gt" else f" {score:.3f}")
        out.append(f"<rect {text}><title>{html.escape(title)}</title></rect>")
    return out, max(1, max(rows, default=0) + 1) * ROW


def timeline_svg(video: ReportVideo) -> str:
    """The lanes of one video (ground truth first when known, then predictions)."""
    duration = max(video.duration, 1e-3)
    parts, top = [], AXIS
    lanes = [("gt", video.truth)] if video.truth is not None else []
    lanes.append(("pred", video.detections))
    for kind, table in lanes:
        for group in BODY_GROUPS:
            # a boolean Series, not a list: an empty list would select no columns, not no rows
            in_group = [action(int(c)).body.index == group.index for c in table["class"]]
            members = table[pd.Series(in_group, index=table.index, dtype=bool)]
            rects, height = _rects(members, kind, duration, top)
            label = f"{'GT ' if kind == 'gt' else ''}{group.name}"
            parts.append(
                f'<rect class="lane-bg {kind}" x="{LABEL}" y="{top:.1f}" width="{WIDTH - LABEL - RIGHT}" '
                f'height="{height:.1f}"/><text class="lane-label" x="4" y="{top + height / 2:.1f}">'
                f"{html.escape(label)}</text>"
            )
            parts += rects
            top += height + GAP
    ticks = []
    for t in _ticks(duration):
        x = _x(t, duration)
        ticks.append(
            f'<g class="tick"><line x1="{x:.2f}" x2="{x:.2f}" y1="{AXIS - 4}" y2="{top:.1f}"/>'
            f'<text x="{x:.2f}" y="{AXIS - 8}">{t:g} s</text></g>'
        )
    height = top + 2
    return (
        f'<svg class="timeline" viewBox="0 0 {WIDTH:g} {height:.1f}" data-x0="{LABEL:g}" '
        f'data-width="{WIDTH - LABEL - RIGHT:g}" data-duration="{duration:.4f}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(ticks)}{"".join(parts)}'
        f'<line class="playhead" x1="{LABEL:g}" x2="{LABEL:g}" y1="{AXIS - 4}" y2="{top:.1f}"/></svg>'
    )


def legend(videos: list[ReportVideo]) -> str:
    shown = set()
    for video in videos:
        shown |= set(video.detections["class"].astype(int))
        if video.truth is not None:
            shown |= set(video.truth["class"].astype(int))
    items = [
        f'<span><span class="swatch" style="background:{class_colour(a.index)}"></span>'
        f"{html.escape(a.code)} {html.escape(a.name)}</span>"
        for a in ACTIONS
        if a.index in shown
    ]
    return f'<div class="legend">{"".join(items)}</div>' if items else ""


def metrics_table(metrics: dict) -> str:
    """The mAP table (percent) of an evaluated run: one row per level, one column per tIoU."""
    levels = [level for level in ("action", "body") if level in metrics]
    if not levels:
        return ""
    keys = list(metrics[levels[0]]["per_tiou"])
    head = "".join(f"<th>{html.escape(k)}</th>" for k in [*keys, "Avg"])
    rows = []
    for level in levels:
        cells = [metrics[level]["per_tiou"][k] for k in keys] + [metrics[level]["avg"]]
        rows.append(f"<tr><th>{level}</th>{''.join(f'<td>{v:.2f}</td>' for v in cells)}</tr>")
    avg = f"<p>AVG = {metrics['avg']:.2f}</p>" if "avg" in metrics else ""
    return f'<table class="metrics"><tr><th>level</th>{head}</tr>{"".join(rows)}</table>{avg}'


def media_link(media: Path, report: Path) -> str:
    """The player's ``src``: the media path relative to the report, percent-encoded."""
    relative = os.path.relpath(Path(media).resolve(), Path(report).resolve().parent)
    return quote(relative.replace(os.sep, "/"))


def write_report(
    path: Path,
    videos: list[ReportVideo],
    title: str = "Micro-action predictions",
    summary: list[str] | None = None,
    metrics: dict | None = None,
    failures: list[tuple[str, str]] | None = None,
) -> Path:
    """Write the page (atomically); ``summary`` lines go under the title, ``failures`` are
    (file, reason) pairs listed at the end."""
    blocks = [f'<p class="meta">{html.escape(line)}</p>' for line in summary or []]
    if metrics:
        blocks.append("<h2>Detection-mAP (%)</h2>" + metrics_table(metrics))
    blocks.append(legend(videos))
    for number, video in enumerate(videos):
        notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in video.notes)
        blocks.append(
            f'<section class="video" id="video-{number}" data-video-id="{html.escape(video.video_id)}">'
            f"<h2>{html.escape(video.video_id)}</h2>"
            f'<p class="meta">{len(video.detections)} detections, {video.duration:.2f} s</p>{notes}'
            f'<video controls preload="metadata" src="{html.escape(media_link(video.media, path))}"></video>'
            f"{timeline_svg(video)}</section>"
        )
    if failures:
        items = "".join(f"<li>{html.escape(reason)}</li>" for _, reason in failures)
        blocks.append(f'<h2 class="failed">{len(failures)} failed</h2><ul class="failed">{items}</ul>')
    page = string.Template(
        resources.files("detection.predict").joinpath("templates/report.html").read_text("utf-8")
    )
    atomic_write_text(path, page.substitute(title=html.escape(title), body="\n".join(blocks)))
    return path
