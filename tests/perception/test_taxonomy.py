import pytest

from perception import taxonomy


def test_body_groups_follow_the_official_index_ranges():
    ranges = {
        0: range(0, 5),
        1: range(5, 11),
        2: range(11, 24),
        3: range(24, 32),
        4: range(32, 38),
        5: range(38, 48),
        6: range(48, 52),
    }
    for body, indices in ranges.items():
        assert [a.index for a in taxonomy.actions_in_body(body)] == list(indices)
        assert all(taxonomy.body_of(i) == body for i in indices)
    assert tuple(taxonomy.body_of(i) for i in range(52)) == taxonomy.ACTION_TO_BODY


def test_codes_are_not_index_order_and_map_both_ways():
    assert taxonomy.action(3).code == "A2" and taxonomy.action(1).code == "A3"
    assert taxonomy.by_code("B1").name == "nodding" and taxonomy.by_code("B1").index == 9
    assert taxonomy.by_name("touching nose").code == "F1"
    assert len({a.code for a in taxonomy.ACTIONS}) == 52
    for a in taxonomy.ACTIONS:
        assert a.code[0] == a.body.letter
        assert taxonomy.by_code(a.code) is a and taxonomy.by_name(a.name) is a


@pytest.mark.parametrize("bad", [-1, 52, 3.0, True])
def test_unknown_indices_are_rejected_by_name(bad):
    with pytest.raises(KeyError, match="unknown micro-action class index"):
        taxonomy.action(bad)


def test_matches_the_official_label_file():
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "ma52" / "label_name.txt"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    names = taxonomy.read_label_names(str(path))
    assert names == {a.index: a.name for a in taxonomy.ACTIONS}
