"""The MA-52 / MMA-52 micro-action label space, shared by every part of the platform.

Class indices follow the line order of the official ``label_name.txt``; that is the
integer written in every annotation and submission CSV. Codes (A1..G4) come from the
dataset's annotation manual and rank classes by frequency *inside* a body group, so
index order is not code order: always convert through this module.

Known doubt: judged by clip counts, indices 3 ("turning around") and 4 ("rising up")
look swapped relative to the manual's figure. We keep the official index order because
that is what the annotation files and the challenge evaluator use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BodyGroup:
    """One of the 7 coarse body groups used for body-level evaluation."""

    index: int
    letter: str
    name: str


@dataclass(frozen=True)
class MicroAction:
    """One of the 52 fine-grained micro-action classes."""

    index: int
    code: str
    name: str
    body: BodyGroup


BODY_GROUPS: tuple[BodyGroup, ...] = (
    BodyGroup(0, "A", "body"),
    BodyGroup(1, "B", "head"),
    BodyGroup(2, "C", "upper limb"),
    BodyGroup(3, "D", "lower limb"),
    BodyGroup(4, "E", "body-hand"),
    BodyGroup(5, "F", "head-hand"),
    BodyGroup(6, "G", "leg-hand"),
)

# (official index, manual code, name); the index is implied by position and checked below.
_ACTIONS: tuple[tuple[int, str, str], ...] = (
    (0, "A1", "shaking body"),
    (1, "A3", "sitting straightly"),
    (2, "A4", "shrugging"),
    (3, "A2", "turning around"),
    (4, "A5", "rising up"),
    (5, "B5", "bowing head"),
    (6, "B6", "head up"),
    (7, "B4", "tilting head"),
    (8, "B3", "turning head"),
    (9, "B1", "nodding"),
    (10, "B2", "shaking head"),
    (11, "C6", "scratching arms"),
    (12, "C8", "playing objects"),
    (13, "C9", "putting hands together"),
    (14, "C13", "rubbing hands"),
    (15, "C11", "pointing oneself"),
    (16, "C12", "clenching fist"),
    (17, "C4", "stretching arms"),
    (18, "C10", "retracting arms"),
    (19, "C5", "waving"),
    (20, "C7", "spreading hands"),
    (21, "C3", "hands touching fingers"),
    (22, "C2", "other finger movements"),
    (23, "C1", "illustrative gestures"),
    (24, "D3", "shaking legs"),
    (25, "D7", "curling legs"),
    (26, "D6", "spread legs"),
    (27, "D5", "closing legs"),
    (28, "D8", "crossing legs"),
    (29, "D4", "stretching feet"),
    (30, "D2", "retracting feet"),
    (31, "D1", "tiptoe"),
    (32, "E2", "scratching or touching neck"),
    (33, "E1", "scratching or touching chest"),
    (34, "E3", "scratching or touching back"),
    (35, "E6", "scratching or touching shoulder"),
    (36, "E4", "arms akimbo"),
    (37, "E5", "crossing arms"),
    (38, "F3", "playing or tidying hair"),
    (39, "F4", "scratching or touching hindbrain"),
    (40, "F7", "scratching or touching forehead"),
    (41, "F2", "scratching or touching face"),
    (42, "F6", "rubbing eyes"),
    (43, "F1", "touching nose"),
    (44, "F8", "touching ears"),
    (45, "F10", "covering face"),
    (46, "F9", "covering mouth"),
    (47, "F5", "pushing glasses"),
    (48, "G2", "patting legs"),
    (49, "G1", "touching legs"),
    (50, "G3", "scratching legs"),
    (51, "G4", "scratching feet"),
)

_BODY_BY_LETTER = {group.letter: group for group in BODY_GROUPS}

ACTIONS: tuple[MicroAction, ...] = tuple(
    MicroAction(index, code, name, _BODY_BY_LETTER[code[0]]) for index, code, name in _ACTIONS
)
assert [a.index for a in ACTIONS] == list(range(len(ACTIONS))), "taxonomy rows out of order"

NUM_ACTIONS = len(ACTIONS)
NUM_BODY_GROUPS = len(BODY_GROUPS)

_BY_CODE = {action.code: action for action in ACTIONS}
_BY_NAME = {action.name: action for action in ACTIONS}

# Index -> body-group index as a plain list, for vectorised relabelling with numpy/torch.
ACTION_TO_BODY: tuple[int, ...] = tuple(action.body.index for action in ACTIONS)


def action(index: int) -> MicroAction:
    """The class with this official index; raises ``KeyError`` naming the bad index."""
    if not isinstance(index, (int,)) or isinstance(index, bool) or not 0 <= index < NUM_ACTIONS:
        raise KeyError(f"unknown micro-action class index {index!r} (valid: 0..{NUM_ACTIONS - 1})")
    return ACTIONS[index]


def by_code(code: str) -> MicroAction:
    """The class with this manual code (e.g. ``"B1"`` for nodding)."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown micro-action code {code!r}") from None


def by_name(name: str) -> MicroAction:
    """The class with this official name (e.g. ``"nodding"``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown micro-action name {name!r}") from None


def body_of(index: int) -> int:
    """Body-group index (0..6) of an action index; used to relabel for body-level mAP."""
    return action(index).body.index


def actions_in_body(body_index: int) -> tuple[MicroAction, ...]:
    """All action classes belonging to one body group, in index order."""
    if not 0 <= body_index < NUM_BODY_GROUPS:
        raise KeyError(f"unknown body group index {body_index!r} (valid: 0..{NUM_BODY_GROUPS - 1})")
    return tuple(a for a in ACTIONS if a.body.index == body_index)


def read_label_names(path: str) -> dict[int, str]:
    """Read an official ``label_name.txt`` (``index<TAB>name`` lines) so it can be checked
    against this module; a mismatch means the file is from a different label space."""
    names: dict[int, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            parts = line.split("\t") if "\t" in line else line.split(maxsplit=1)
            if len(parts) != 2 or not parts[0].isdigit():
                raise ValueError(f"{path}:{line_no}: expected 'index<TAB>name', got {line!r}")
            names[int(parts[0])] = parts[1].strip()
    return names
