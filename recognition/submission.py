"""MAC challenge recognition submissions: write them from class probabilities, read them back.

Two formats, each a ``prediction.csv`` zipped with no enclosing folder:

- **MAC 2024** (``mac2024``): ``id,pred_label_1,pred_label_2`` = clip, body top-1, action
  top-1. ``id`` is the clip's file name *with* its extension, as in the official kit
  (``online_evaluation/sample_prediction.csv``: ``test0000.mp4,2,21``). The body column is
  the body group of the action top-1, as the kit derives it. This file holds one guess per
  clip, so top-5 cannot be computed from it.
- **MAC 2025** (``mac2025``): ``vid,action_pred_1..5,body_pred_1..5``, top-5 each by
  confidence, ``vid`` the file name with extension (starter kit: ``0003_01_0005.mp4``).

Body top-5 ranking (``body_ranking``), our choice, documented because the kit leaves it open:

- ``max`` (default): body groups ranked by the largest probability among their actions.
  The first body guess is then always the body group of the action top-1, so the file
  agrees with the official body top-1 definition, and the five body guesses are distinct;
- ``sum``: ranked by the summed probability of their actions (the model's probability of
  the group; needs probabilities, not logits); the first guess can differ from the group of
  the action top-1;
- ``kit``: the body group of each of the action top-5, duplicates included, exactly as the
  MAC 2025 starter kit's ``submit/generate.py`` writes it.

Ranking ties go to the lower index. Files are written atomically; a ``.zip`` path gets the
zip, any other path the bare CSV.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.atomic import atomic_path
from perception.taxonomy import ACTION_TO_BODY, NUM_ACTIONS, NUM_BODY_GROUPS
from recognition.metrics import ranked_predictions, to_body

CSV_NAME = "prediction.csv"
FORMATS = ("mac2024", "mac2025")
BODY_RANKINGS = ("max", "sum", "kit")
TOP_K = 5
HEADERS = {
    "mac2024": ("id", "pred_label_1", "pred_label_2"),
    "mac2025": ("vid",)
    + tuple(f"action_pred_{i}" for i in range(1, TOP_K + 1))
    + tuple(f"body_pred_{i}" for i in range(1, TOP_K + 1)),
}


class SubmissionError(ValueError):
    """A submission file that cannot be scored; the message names the file, row and field."""


@dataclass
class Submission:
    """A parsed submission: ranked action and body guesses per clip, in file order."""

    format: str
    ids: list[str]
    action: np.ndarray  # (N, 1) for mac2024, (N, 5) for mac2025
    body: np.ndarray  # same


# --------------------------------------------------------------------------- writing


def body_ranked(probabilities: np.ndarray, ranking: str = "max", k: int = TOP_K) -> np.ndarray:
    """(N, k) body-group guesses from (N, 52) class probabilities (see module docstring)."""
    if ranking not in BODY_RANKINGS:
        raise ValueError(f"unknown body ranking {ranking!r}; valid: {', '.join(BODY_RANKINGS)}")
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if ranking == "kit":
        return to_body(ranked_predictions(probabilities, k))
    if ranking == "sum" and not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("body_ranking='sum' needs probabilities (rows summing to 1), not logits")
    groups = np.zeros((len(probabilities), NUM_BODY_GROUPS))
    bodies = np.asarray(ACTION_TO_BODY)
    for group in range(NUM_BODY_GROUPS):
        members = probabilities[:, bodies == group]
        groups[:, group] = members.max(axis=1) if ranking == "max" else members.sum(axis=1)
    return ranked_predictions(groups, k)


def submission_rows(
    ids: Sequence[str], probabilities: np.ndarray, fmt: str = "mac2025", body_ranking: str = "max"
) -> list[list]:
    """The CSV rows (header first) of a submission."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown submission format {fmt!r}; valid: {', '.join(FORMATS)}")
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != NUM_ACTIONS:
        raise ValueError(f"probabilities must be (N, {NUM_ACTIONS}), got {probabilities.shape}")
    if len(ids) != len(probabilities):
        raise ValueError(f"{len(ids)} ids but {len(probabilities)} rows of probabilities")
    if len(set(ids)) != len(ids):
        raise ValueError("clip ids must be unique")
    actions = ranked_predictions(probabilities, TOP_K)
    rows: list[list] = [list(HEADERS[fmt])]
    if fmt == "mac2024":
        bodies = to_body(actions[:, 0])
        rows += [[name, int(b), int(a)] for name, b, a in zip(ids, bodies, actions[:, 0], strict=True)]
    else:
        bodies = body_ranked(probabilities, body_ranking)
        rows += [[name, *map(int, a), *map(int, b)] for name, a, b in zip(ids, actions, bodies, strict=True)]
    return rows


def write_submission(
    path: str | Path,
    ids: Sequence[str],
    probabilities: np.ndarray,
    fmt: str = "mac2025",
    body_ranking: str = "max",
) -> Path:
    """Write ``prediction.csv`` (zipped at the top level when ``path`` ends in ``.zip``)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(submission_rows(ids, probabilities, fmt, body_ranking))
    path = Path(path)
    with atomic_path(path) as temporary:
        if path.suffix == ".zip":
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(CSV_NAME, buffer.getvalue())
        else:
            temporary.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reading


def _csv_text(path: Path) -> tuple[str, str]:
    """(text, name for messages) of a bare CSV or of the one CSV at the top of a zip."""
    if not path.is_file():
        raise FileNotFoundError(f"submission file not found: {path}")
    if not zipfile.is_zipfile(path):
        data, label = path.read_bytes(), str(path)
    else:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            nested = [n for n in archive.namelist() if "/" in n.rstrip("/")]
            if nested:
                raise SubmissionError(
                    f"{path}: the zip holds a folder ({nested[0]!r}); the challenge wants "
                    f"{CSV_NAME} at the top level, no enclosing folder"
                )
            csvs = [n for n in names if n.lower().endswith(".csv")]
            if len(csvs) != 1:
                raise SubmissionError(f"{path}: expected one CSV file in the zip, found {csvs or names}")
            data, label = archive.read(csvs[0]), f"{path}!{csvs[0]}"
    try:
        return data.decode("utf-8-sig"), label
    except UnicodeDecodeError as error:
        raise SubmissionError(
            f"{label}: not a UTF-8 text file ({error.reason} at byte {error.start})"
        ) from None


def _integer(text: str, where: str, field: str, limit: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise SubmissionError(f"{where}: field {field!r} is {text!r}, not an integer") from None
    if not 0 <= value < limit:
        raise SubmissionError(f"{where}: field {field!r} is {value}, outside 0..{limit - 1}")
    return value


def read_submission(path: str | Path) -> Submission:
    """Parse either format (told apart by the header). Rows are numbered as lines of the CSV
    (the header is row 1)."""
    path = Path(path)
    text, label = _csv_text(path)
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise SubmissionError(f"{label}: empty file, expected a header row")
    header = tuple(cell.strip() for cell in rows[0])
    fmt = next((name for name, expected in HEADERS.items() if header == expected), None)
    if fmt is None:
        raise SubmissionError(
            f"{label}: row 1: header {','.join(header)!r} is neither MAC 2024 "
            f"({','.join(HEADERS['mac2024'])}) nor MAC 2025 ({','.join(HEADERS['mac2025'])})"
        )
    columns = HEADERS[fmt]
    ids: list[str] = []
    actions: list[list[int]] = []
    bodies: list[list[int]] = []
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{label}: row {number}"
        if len(row) != len(columns):
            raise SubmissionError(f"{where}: expected {len(columns)} fields, got {len(row)}")
        clip = row[0].strip()
        if not clip:
            raise SubmissionError(f"{where}: field {columns[0]!r} is empty")
        if clip in first_row:
            raise SubmissionError(f"{where}: field {columns[0]!r} {clip!r} repeats row {first_row[clip]}")
        first_row[clip] = number
        values = dict(zip(columns[1:], row[1:], strict=True))
        if fmt == "mac2024":
            bodies.append([_integer(values["pred_label_1"], where, "pred_label_1", NUM_BODY_GROUPS)])
            actions.append([_integer(values["pred_label_2"], where, "pred_label_2", NUM_ACTIONS)])
        else:
            actions.append(
                [
                    _integer(values[f"action_pred_{i}"], where, f"action_pred_{i}", NUM_ACTIONS)
                    for i in range(1, 6)
                ]
            )
            bodies.append(
                [
                    _integer(values[f"body_pred_{i}"], where, f"body_pred_{i}", NUM_BODY_GROUPS)
                    for i in range(1, 6)
                ]
            )
        ids.append(clip)
    width = 1 if fmt == "mac2024" else TOP_K
    return Submission(
        fmt,
        ids,
        np.asarray(actions, dtype=np.int64).reshape(-1, width),
        np.asarray(bodies, dtype=np.int64).reshape(-1, width),
    )
