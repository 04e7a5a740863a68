"""MMA-52 detection annotations and MMAD challenge submissions: reading, validating, writing.

Everything downstream (datasets, training targets, evaluation) trusts these objects, so the
readers refuse bad input loudly instead of dropping rows: an annotation typo that silently
disappears shifts mAP by an amount nobody can trace later. Every complaint is an
:class:`AnnotationError` naming the file, the 1-based line (header = line 1) and the field.

Parsing is vectorised (pandas reads every column as text, numpy validates whole columns at
once) because the real training CSV has 13.7k rows and is read on every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from perception.atomic import atomic_write_text
from perception.taxonomy import NUM_ACTIONS

MMA52_COLUMNS = ("id", "video_id", "start_frame", "end_frame", "class", "total_frames", "fps")
SUBMISSION_COLUMNS = ("video_id", "t_start", "t_end", "class", "score")
GT_COLUMNS = ("video_id", "t_start", "t_end", "class")

# Data row i (0-based, blank lines included) sits on file line i + 2: line 1 is the header.
_FIRST_DATA_LINE = 2


class AnnotationError(ValueError):
    """A malformed annotation or submission file; says where (file, line, field) and what."""

    def __init__(self, path: str | Path, line: int, field: str, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        super().__init__(f"{self.path}: line {line}, field '{field}': {problem}")


@dataclass
class Instance:
    """One labelled micro-action occurrence, in seconds (instances of a video may overlap)."""

    start: float
    end: float
    label: int


@dataclass
class VideoAnnotation:
    """All instances of one video plus the timing facts needed to go back to frames."""

    video_id: str
    fps: float
    total_frames: int
    instances: list[Instance] = field(default_factory=list)
    split: str | None = None
    path: Path | None = None

    @property
    def duration(self) -> float:
        """Video length in seconds, the range every instance must lie in."""
        return self.total_frames / self.fps


# ---------------------------------------------------------------------------------------------
# Column helpers shared by both formats


def _read_text_table(path: Path) -> pd.DataFrame:
    """Read a CSV with every cell as text so nothing is coerced (ids like '0012' stay strings,
    'abc' in a numeric column is reported rather than turned into NaN by the parser)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise AnnotationError(path, 1, "<header>", "file is empty (no header)") from None
    except pd.errors.ParserError as exc:
        # pandas words this as "Expected 7 fields in line 5, saw 8" with 1-based file lines.
        line = _line_from_parser_message(str(exc))
        raise AnnotationError(path, line, "<row>", f"malformed CSV row ({exc})") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _line_from_parser_message(message: str) -> int:
    """Best-effort line number out of a pandas tokenizer error; 0 when it names none."""
    words = message.replace(",", " ").split()
    for before, word in zip(words, words[1:], strict=False):
        if before == "line" and word.isdigit():
            return int(word)
    return 0


def _drop_blank_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Blank lines carry no data; drop them but keep the original index for line numbers."""
    cells = table.fillna("").apply(lambda col: col.str.strip())
    return table[(cells != "").any(axis=1)]


def _require_columns(path: Path, table: pd.DataFrame, required: Iterable[str]) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise AnnotationError(
            path, 1, missing[0], f"missing column(s) {missing}; header has {list(table.columns)}"
        )


def _line_of(table: pd.DataFrame, position: int) -> int:
    """File line of the row at this position (index labels are raw data-row numbers)."""
    return int(table.index[position]) + _FIRST_DATA_LINE


def _fail_first(path: Path, table: pd.DataFrame, bad: np.ndarray, field: str, describe) -> None:
    """Raise for the first row flagged in ``bad``; ``describe(pos)`` words the problem and the
    message counts how many more rows share it, so one fix-and-rerun cycle shows the scale."""
    if not bad.any():
        return
    pos = int(np.flatnonzero(bad)[0])
    others = int(bad.sum()) - 1
    suffix = f" ({others} more row(s) with this problem)" if others else ""
    raise AnnotationError(path, _line_of(table, pos), field, describe(pos) + suffix)


def _fail_unknown_class(path: Path, table: pd.DataFrame, label: np.ndarray) -> None:
    """Both formats carry action indices; one message for an index outside the taxonomy."""
    _fail_first(
        path,
        table,
        (label < 0) | (label >= NUM_ACTIONS),
        "class",
        lambda p: f"unknown class {int(label[p])} (valid: 0..{NUM_ACTIONS - 1})",
    )


def _text(table: pd.DataFrame, column: str) -> np.ndarray:
    return table[column].fillna("").str.strip().to_numpy(dtype=object)


def _numeric(path: Path, table: pd.DataFrame, column: str, *, integer: bool, allow_nan: bool = False):
    """Parse one text column as numbers, failing on the first empty or non-numeric cell.

    ``allow_nan`` lets a literal 'nan' through so the caller can give the more specific
    "NaN fps" message instead of "not a number".
    """
    raw = _text(table, column)
    values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    empty = raw == ""
    _fail_first(path, table, empty, column, lambda p: "missing value")
    literal_nan = np.array([s.lower() == "nan" for s in raw], dtype=bool)
    not_number = np.isnan(values) & ~(literal_nan & allow_nan)
    _fail_first(path, table, not_number, column, lambda p: f"{raw[p]!r} is not a number")
    if integer:
        not_int = ~np.isfinite(values) | (values != np.round(values))
        _fail_first(path, table, not_int, column, lambda p: f"{raw[p]!r} is not an integer")
    return values


# ---------------------------------------------------------------------------------------------
# MMA-52 annotation CSV


def read_mma52_csv(
    path: str | Path, video_root: str | Path | None = None, split: str | None = None
) -> dict[str, VideoAnnotation]:
    """Read an MMA-52 ``{train,val,test}.csv`` into videos keyed by id, in first-seen order.

    Frames become seconds as ``frame / fps``. With ``video_root``, every listed video must
    exist at ``<video_root>/<split>/<video_id>.mp4``; ``split`` defaults to the file stem
    (``train.csv`` -> ``train``) because that is how the dataset ships.
    """
    path = Path(path)
    split = split if split is not None else path.stem
    table = _drop_blank_rows(_read_text_table(path))
    _require_columns(path, table, MMA52_COLUMNS)
    unexpected = [c for c in table.columns if c not in MMA52_COLUMNS]
    if unexpected:
        raise AnnotationError(path, 1, unexpected[0], f"unexpected column(s) {unexpected}")

    ids = _text(table, "id")
    _fail_first(path, table, ids == "", "id", lambda p: "missing value")
    video_ids = _text(table, "video_id")
    _fail_first(path, table, video_ids == "", "video_id", lambda p: "missing value")
    start = _numeric(path, table, "start_frame", integer=True)
    end = _numeric(path, table, "end_frame", integer=True)
    label = _numeric(path, table, "class", integer=True)
    total = _numeric(path, table, "total_frames", integer=True)
    fps = _numeric(path, table, "fps", integer=False, allow_nan=True)

    _fail_first(
        path, table, ~(fps > 0) | ~np.isfinite(fps), "fps", lambda p: f"fps must be > 0, got {fps[p]}"
    )
    _fail_first(path, table, total <= 0, "total_frames", lambda p: f"must be > 0, got {int(total[p])}")
    _fail_first(path, table, start < 0, "start_frame", lambda p: f"negative start {int(start[p])}")
    _fail_first(
        path,
        table,
        start >= end,
        "end_frame",
        lambda p: f"end_frame {int(end[p])} must be greater than start_frame {int(start[p])}",
    )
    _fail_first(
        path,
        table,
        end > total,
        "end_frame",
        lambda p: f"end_frame {int(end[p])} is beyond total_frames {int(total[p])}",
    )
    _fail_unknown_class(path, table, label)

    # Per-video facts must agree across rows: compare every row with the video's first row.
    codes, uniques = pd.factorize(pd.Series(video_ids, dtype=object))
    first_pos = np.full(len(uniques), len(codes), dtype=np.int64)
    np.minimum.at(first_pos, codes, np.arange(len(codes)))
    ref = first_pos[codes]
    for column, values in (("fps", fps), ("total_frames", total)):
        _fail_first(
            path,
            table,
            values != values[ref],
            column,
            lambda p, v=values, c=column: (
                f"video {video_ids[p]!r} has {c} {v[p]:g} here but {v[ref[p]]:g} "
                f"on line {_line_of(table, int(ref[p]))}"
            ),
        )

    video_paths: list[Path | None] = [None] * len(uniques)
    if video_root is not None:
        for k, vid in enumerate(uniques):
            candidate = Path(video_root) / split / f"{vid}.mp4"
            if not candidate.is_file():
                raise AnnotationError(
                    path, _line_of(table, int(first_pos[k])), "video_id", f"video file {candidate} not found"
                )
            video_paths[k] = candidate

    start_s = (start / fps).tolist()
    end_s = (end / fps).tolist()
    labels = label.astype(np.int64).tolist()
    videos = [
        VideoAnnotation(
            video_id=str(vid),
            fps=float(fps[first_pos[k]]),
            total_frames=int(total[first_pos[k]]),
            instances=[],
            split=split,
            path=video_paths[k],
        )
        for k, vid in enumerate(uniques)
    ]
    for row, k in enumerate(codes.tolist()):
        videos[k].instances.append(Instance(start_s[row], end_s[row], labels[row]))
    return {v.video_id: v for v in videos}


def write_mma52_csv(
    path: str | Path, videos: Iterable[VideoAnnotation] | Mapping[str, VideoAnnotation]
) -> None:
    """Write videos back to the MMA-52 CSV layout (seconds -> nearest frame), atomically.

    Refuses instances that would not read back (empty or out of range after rounding), so a
    file this writes is always one :func:`read_mma52_csv` accepts.
    """
    rows: list[str] = [",".join(MMA52_COLUMNS)]
    next_id = 0
    for video in _iter_videos(videos):
        if "," in video.video_id or '"' in video.video_id:
            raise ValueError(f"video id {video.video_id!r} cannot be written to CSV unquoted")
        for inst in video.instances:
            start_f = int(np.rint(inst.start * video.fps))
            end_f = int(np.rint(inst.end * video.fps))
            if not 0 <= start_f < end_f <= video.total_frames or not 0 <= inst.label < NUM_ACTIONS:
                raise ValueError(
                    f"video {video.video_id!r}: instance {inst} becomes frames [{start_f}, {end_f}) "
                    f"class {inst.label}, invalid for total_frames {video.total_frames}"
                )
            rows.append(
                f"{next_id},{video.video_id},{start_f},{end_f},{inst.label},"
                f"{video.total_frames},{float(video.fps)!r}"
            )
            next_id += 1
    atomic_write_text(path, "\n".join(rows) + "\n")


def _iter_videos(
    videos: Iterable[VideoAnnotation] | Mapping[str, VideoAnnotation],
) -> Iterable[VideoAnnotation]:
    """Accept both the reader's dict and a plain iterable of videos."""
    return videos.values() if isinstance(videos, Mapping) else videos


def annotations_to_frame(videos: Iterable[VideoAnnotation] | Mapping[str, VideoAnnotation]) -> pd.DataFrame:
    """Flatten videos into the ground-truth table the metrics take:
    ``video_id, t_start, t_end, class`` (seconds), one row per instance."""
    records = [
        (video.video_id, inst.start, inst.end, inst.label)
        for video in _iter_videos(videos)
        for inst in video.instances
    ]
    frame = pd.DataFrame.from_records(records, columns=list(GT_COLUMNS))
    return frame.astype({"video_id": object, "t_start": np.float64, "t_end": np.float64, "class": np.int64})


# ---------------------------------------------------------------------------------------------
# MMAD challenge submission CSV


def _validate_predictions(path: Path, table: pd.DataFrame, text: bool) -> pd.DataFrame:
    """Check a prediction table and return it typed; ``text`` says cells are still strings.

    Non-finite times/scores, reversed segments and unknown classes are rejected because the
    evaluator would otherwise score them silently as misses (or crash far away).
    """
    _require_columns(path, table, SUBMISSION_COLUMNS)
    if text:
        video_ids = _text(table, "video_id")
        columns = {
            c: _numeric(path, table, c, integer=False, allow_nan=True) for c in ("t_start", "t_end", "score")
        }
        label = _numeric(path, table, "class", integer=True)
    else:
        video_ids = table["video_id"].astype(str).to_numpy(dtype=object)
        columns = {}
        for c in ("t_start", "t_end", "score"):
            values = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=np.float64)
            columns[c] = values
        label = pd.to_numeric(table["class"], errors="coerce").to_numpy(dtype=np.float64)
        _fail_first(
            path,
            table,
            ~np.isfinite(label) | (label != np.round(label)),
            "class",
            lambda p: f"{table['class'].iloc[p]!r} is not an integer class",
        )
    _fail_first(path, table, video_ids == "", "video_id", lambda p: "missing value")
    for c, values in columns.items():
        _fail_first(path, table, ~np.isfinite(values), c, lambda p, v=values: f"non-finite value {v[p]}")
    t_start, t_end = columns["t_start"], columns["t_end"]
    _fail_first(path, table, t_end < t_start, "t_end", lambda p: f"t_end {t_end[p]} < t_start {t_start[p]}")
    _fail_unknown_class(path, table, label)
    return pd.DataFrame(
        {
            "video_id": pd.Series(video_ids, dtype=object),
            "t_start": t_start,
            "t_end": t_end,
            "class": label.astype(np.int64),
            "score": columns["score"],
        }
    )


def write_submission(path: str | Path, predictions: pd.DataFrame) -> None:
    """Write predictions in the challenge format (``,video_id,t_start,t_end,class,score`` with a
    leading unnamed row index), atomically, after the same validation the reader applies.

    For an in-memory table the 'line' in an error is the row position + 2, i.e. the line it
    would occupy in the written file.
    """
    path = Path(path)
    table = predictions.reset_index(drop=True)
    clean = _validate_predictions(path, table, text=False)
    text = clean.to_csv(index=True, index_label="", lineterminator="\n", float_format=None)
    atomic_write_text(path, text)


def _read_submission_fast(path: Path) -> pd.DataFrame | None:
    """The whole file through pandas' C parser with native number parsing, and every check
    vectorised; None when anything is off (a cell that is not a number, a missing value, an
    unexpected column, a failed check), so that the careful reader finds and names it."""
    try:
        table = pd.read_csv(path, dtype={"video_id": str}, keep_default_na=False, na_values=[], engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    table.columns = [str(c).strip() for c in table.columns]
    if len(table.columns) and (table.columns[0] == "" or table.columns[0].startswith("Unnamed:")):
        table = table.drop(columns=table.columns[0])
    if list(table.columns) != list(SUBMISSION_COLUMNS):
        return None
    numbers = [table[c] for c in ("t_start", "t_end", "score")]
    if not all(pd.api.types.is_numeric_dtype(c) for c in numbers) or not pd.api.types.is_integer_dtype(
        table["class"]
    ):
        return None
    t_start, t_end, score = (c.to_numpy(dtype=np.float64) for c in numbers)
    label = table["class"].to_numpy(dtype=np.int64)
    video_ids = table["video_id"].to_numpy(dtype=object)
    ok = (
        np.isfinite(t_start).all()
        and np.isfinite(t_end).all()
        and np.isfinite(score).all()
        and (t_end >= t_start).all()
        and ((label >= 0) & (label < NUM_ACTIONS)).all()
    )
    if not ok:
        return None
    stripped = table["video_id"].str.strip()
    if (stripped == "").any():
        return None
    if not (stripped.to_numpy(dtype=object) == video_ids).all():
        video_ids = stripped.to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "video_id": pd.Series(video_ids, dtype=object),
            "t_start": t_start,
            "t_end": t_end,
            "class": label,
            "score": score,
        }
    )


def read_submission(path: str | Path) -> pd.DataFrame:
    """Read a challenge submission into columns :data:`SUBMISSION_COLUMNS` (typed, validated).

    The leading unnamed index column is optional so hand-made files without it also load.
    A valid file takes the fast path (pandas' own number parsing, vectorised checks: a million
    rows in about a second); any problem sends the file through the careful text reader, which
    names the first bad line and field.
    """
    path = Path(path)
    fast = _read_submission_fast(path)
    return fast if fast is not None else read_submission_checked(path)


def read_submission_checked(path: str | Path) -> pd.DataFrame:
    """The careful reader: every cell as text, each column parsed and checked on its own, so the
    first bad line and field are named. The reference the fast path must agree with (tests and
    ``benchmarks/bench_evaluate.py`` compare them), and what reads any file the fast path refuses."""
    path = Path(path)
    table = _drop_blank_rows(_read_text_table(path))
    first = table.columns[0] if len(table.columns) else None
    if first is not None and (first == "" or first.startswith("Unnamed:")):
        table = table.drop(columns=first)
    unexpected = [c for c in table.columns if c not in SUBMISSION_COLUMNS]
    if unexpected:
        raise AnnotationError(path, 1, unexpected[0], f"unexpected column(s) {unexpected}")
    return _validate_predictions(path, table, text=True)
