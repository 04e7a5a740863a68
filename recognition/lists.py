"""MA-52 recognition list files: ``<file>.mp4 <action_idx>`` per line.

The official splits (train 11,250 / val 5,586 / test 5,586 clips) ship as
``{train,val,test}_list_videos.txt`` beside folders ``<root>/<split>/`` that hold the clips.
The test list carries the label 0 on every line because the test labels are hidden.

The body label is never read from a file: it is derived from the action index through
:mod:`perception.taxonomy`, exactly as the official evaluation does. Clip names follow
``<subject>_<session>_<clip>.mp4`` (e.g. ``0003_01_0001.mp4``), so the subject is the first
``_``-separated field; splits are subject-disjoint, which is what subject-wise analyses and
cross-validation folds need to know.

Errors name the file, the line and the field, so a hand-edited list fails on the exact line
rather than as a shape mismatch an hour into training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perception.taxonomy import ACTION_TO_BODY, NUM_ACTIONS

SPLITS = ("train", "val", "test")
LIST_NAME = "{split}_list_videos.txt"


class ListError(ValueError):
    """A list file line that cannot be used; the message names file, line and field."""


@dataclass(frozen=True)
class ClipItem:
    """One labelled clip of a list file."""

    file: str  # as written in the list, e.g. "0003_01_0001.mp4"
    label: int  # action index 0..51 (0 on every line of the hidden-label test list)
    line: int  # 1-based line number in the list, for messages
    path: Path | None = None  # <video_dir>/<file> when the list was read with a video folder

    @property
    def body(self) -> int:
        """Body-group index 0..6 of the action (perception.taxonomy)."""
        return ACTION_TO_BODY[self.label]

    @property
    def stem(self) -> str:
        return Path(self.file).stem

    @property
    def subject(self) -> str:
        """First ``_``-separated field of the clip name: the participant."""
        return self.stem.split("_", 1)[0]


def _parse_label(text: str, where: str) -> int:
    try:
        label = int(text)
    except ValueError:
        raise ListError(f"{where}: field 'action_idx' is {text!r}, not an integer") from None
    if not 0 <= label < NUM_ACTIONS:
        raise ListError(f"{where}: field 'action_idx' is {label}, outside 0..{NUM_ACTIONS - 1}")
    return label


def read_list(path: str | Path, video_dir: str | Path | None = None) -> list[ClipItem]:
    """Parse a list file; with ``video_dir``, also check that every clip exists there.

    Blank lines are skipped (many lists end with one); any other line must have exactly two
    whitespace-separated fields. A clip listed twice is an error, since it would be trained
    or scored twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list file not found: {path}")
    folder = Path(video_dir) if video_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise FileNotFoundError(f"{path}: video folder {folder} does not exist")
    items: list[ClipItem] = []
    seen: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ListError(f"{path}: not a UTF-8 text file ({error.reason} at byte {error.start})") from None
    for number, raw in enumerate(lines, start=1):
        fields = raw.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 2:
            raise ListError(
                f"{where}: expected 2 fields '<file> <action_idx>', got {len(fields)} in {raw.strip()!r}"
            )
        name, label_text = fields
        label = _parse_label(label_text, where)
        if name in seen:
            raise ListError(f"{where}: field 'file' {name!r} is listed again (first on line {seen[name]})")
        seen[name] = number
        clip_path = None
        if folder is not None:
            clip_path = folder / name
            if not clip_path.is_file():
                raise ListError(f"{where}: field 'file': video {clip_path} not found")
        items.append(ClipItem(name, label, number, clip_path))
    return items


def list_path(root: str | Path, split: str) -> Path:
    """``<root>/<split>_list_videos.txt``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    return Path(root) / LIST_NAME.format(split=split)


def read_split(root: str | Path, split: str, check_videos: bool = True) -> list[ClipItem]:
    """The clips of one split of an MA-52-layout root (list file + ``<root>/<split>/`` videos)."""
    root = Path(root)
    return read_list(list_path(root, split), root / split if check_videos else None)


def labels_hidden(items: list[ClipItem]) -> bool:
    """True for a list whose labels are all 0, as the official test list (hidden labels)."""
    return len(items) > 1 and all(item.label == 0 for item in items)
