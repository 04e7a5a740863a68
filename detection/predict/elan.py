"""Detections as an ELAN annotation file (``.eaf``, EAF 3.0), for review by annotators.

ELAN is the tool micro-action and gesture annotators already use. A tier may not hold
overlapping annotations, while detections of one body group overlap often, so each body
group gets as many tiers as its overlaps need (``head``, ``head 2``, ...; greedy interval
packing, earliest start first); every body group has at least one tier, so an annotator can
add what the detector missed. Each tier has a dependent ``<tier> score`` tier holding the
detector's score of each annotation (ELAN's Symbolic_Association), and the labels come from
a controlled vocabulary of the 52 classes (``<code> <name>``), so a corrected label stays
one of them. The media is referenced by absolute ``file://`` URL and by a URL relative to
the ``.eaf``, so the pair can move together.

Written with ``xml.etree`` from the standard library, atomically.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree as ET

import pandas as pd

from perception.atomic import atomic_write_bytes
from perception.taxonomy import ACTIONS, BODY_GROUPS, action

VOCABULARY = "micro-actions"
ACTION_TYPE, SCORE_TYPE = "micro-action", "score"
CONSTRAINTS = {
    "Time_Subdivision": "Time subdivision of parent annotation's time interval, no time gaps allowed "
    "within this interval",
    "Symbolic_Subdivision": "Symbolic subdivision of a parent annotation. Annotations refering to the "
    "same parent are ordered",
    "Symbolic_Association": "1-1 association with a parent annotation",
    "Included_In": "Time alignable annotations within the parent annotation's time interval, gaps are "
    "allowed",
}


def pack_lanes(intervals: list[tuple[int, int]]) -> list[int]:
    """Lane of each (start, end) interval such that no two in a lane overlap (touching is
    fine); intervals are placed earliest start first into the lowest free lane."""
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1]))
    lane_end: list[int] = []
    lanes = [0] * len(intervals)
    for i in order:
        start, end = intervals[i]
        free = next((k for k, last in enumerate(lane_end) if last <= start), None)
        if free is None:
            free = len(lane_end)
            lane_end.append(end)
        lane_end[free] = end
        lanes[i] = free
    return lanes


def tier_name(body: str, lane: int) -> str:
    return body if lane == 0 else f"{body} {lane + 1}"


def media_urls(video: Path, eaf: Path) -> tuple[str, str]:
    """(absolute file URL, URL relative to the .eaf's folder) of the video."""
    video = video.resolve()
    relative = os.path.relpath(video, eaf.resolve().parent).replace(os.sep, "/")
    return video.as_uri(), quote(relative if relative.startswith(".") else f"./{relative}")


def eaf_document(detections: pd.DataFrame, video: Path, eaf: Path) -> ET.ElementTree:
    """The EAF tree of one video's detections (columns t_start, t_end, class, score)."""
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "microactions detector",
            "DATE": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    absolute, relative = media_urls(video, eaf)
    mime = mimetypes.guess_type(video.name)[0] or "video/*"
    ET.SubElement(
        header,
        "MEDIA_DESCRIPTOR",
        {"MEDIA_URL": absolute, "MIME_TYPE": mime, "RELATIVE_MEDIA_URL": relative},
    )
    order = ET.SubElement(root, "TIME_ORDER")

    rows = detections.sort_values(["t_start", "t_end"], kind="stable")
    starts = [round(s * 1000) for s in rows["t_start"]]
    spans = [(s, max(round(e * 1000), s + 1)) for s, e in zip(starts, rows["t_end"], strict=True)]
    found = list(zip(spans, rows["class"].astype(int), rows["score"].astype(float), strict=True))
    tiers: dict[str, list[tuple[tuple[int, int], int, float]]] = {}
    for group in BODY_GROUPS:
        members = [item for item in found if action(item[1]).body.index == group.index]
        lanes = pack_lanes([item[0] for item in members])
        for lane in range(max(lanes, default=0) + 1):
            tiers[tier_name(group.name, lane)] = [m for m, k in zip(members, lanes, strict=True) if k == lane]

    slot, annotation = 0, 0
    for name, members in tiers.items():
        tier = ET.SubElement(
            root, "TIER", {"LINGUISTIC_TYPE_REF": ACTION_TYPE, "TIER_ID": name, "ANNOTATOR": "detector"}
        )
        scores = ET.Element(
            "TIER", {"LINGUISTIC_TYPE_REF": SCORE_TYPE, "PARENT_REF": name, "TIER_ID": f"{name} score"}
        )
        for (start, end), label, score in members:
            refs = []
            for value in (start, end):
                slot += 1
                refs.append(f"ts{slot}")
                ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": refs[-1], "TIME_VALUE": str(value)})
            annotation += 1
            parent_id = f"a{annotation}"
            aligned = ET.SubElement(
                ET.SubElement(tier, "ANNOTATION"),
                "ALIGNABLE_ANNOTATION",
                {
                    "ANNOTATION_ID": parent_id,
                    "TIME_SLOT_REF1": refs[0],
                    "TIME_SLOT_REF2": refs[1],
                    "CVE_REF": f"cve{label}",
                },
            )
            micro = action(label)
            ET.SubElement(aligned, "ANNOTATION_VALUE").text = f"{micro.code} {micro.name}"
            annotation += 1
            ref = ET.SubElement(
                ET.SubElement(scores, "ANNOTATION"),
                "REF_ANNOTATION",
                {"ANNOTATION_ID": f"a{annotation}", "ANNOTATION_REF": parent_id},
            )
            ET.SubElement(ref, "ANNOTATION_VALUE").text = f"{score:.4f}"
        root.append(scores)
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(annotation)

    ET.SubElement(
        root,
        "LINGUISTIC_TYPE",
        {
            "CONTROLLED_VOCABULARY_REF": VOCABULARY,
            "GRAPHIC_REFERENCES": "false",
            "LINGUISTIC_TYPE_ID": ACTION_TYPE,
            "TIME_ALIGNABLE": "true",
        },
    )
    ET.SubElement(
        root,
        "LINGUISTIC_TYPE",
        {
            "CONSTRAINTS": "Symbolic_Association",
            "GRAPHIC_REFERENCES": "false",
            "LINGUISTIC_TYPE_ID": SCORE_TYPE,
            "TIME_ALIGNABLE": "false",
        },
    )
    ET.SubElement(
        root,
        "LANGUAGE",
        {
            "LANG_DEF": "http://cdb.iso.org/lg/CDB-00130975-001",
            "LANG_ID": "eng",
            "LANG_LABEL": "English (eng)",
        },
    )
    for stereotype, description in CONSTRAINTS.items():
        ET.SubElement(root, "CONSTRAINT", {"DESCRIPTION": description, "STEREOTYPE": stereotype})
    vocabulary = ET.SubElement(root, "CONTROLLED_VOCABULARY", {"CV_ID": VOCABULARY})
    ET.SubElement(vocabulary, "DESCRIPTION", {"LANG_REF": "eng"}).text = "MA-52 micro-action classes"
    for micro in ACTIONS:
        entry = ET.SubElement(vocabulary, "CV_ENTRY_ML", {"CVE_ID": f"cve{micro.index}"})
        value = ET.SubElement(entry, "CVE_VALUE", {"DESCRIPTION": micro.body.name, "LANG_REF": "eng"})
        value.text = f"{micro.code} {micro.name}"
    ET.indent(root)
    return ET.ElementTree(root)


def write_eaf(detections: pd.DataFrame, video: Path, path: Path) -> Path:
    """Write the ELAN file of one video's detections to ``path`` (atomically)."""
    tree = eaf_document(detections, Path(video), Path(path))
    body = ET.tostring(tree.getroot(), encoding="unicode")
    atomic_write_bytes(path, ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8"))
    return path
