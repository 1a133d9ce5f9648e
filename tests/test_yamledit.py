"""governance.yamledit: splice-only YAML edits, verified by parsing the result again."""

from __future__ import annotations

import pytest

from governance.yamledit import (
    Edit,
    EditRefused,
    Splice,
    YamlFile,
    delete_entry,
    insert_top_level,
    newline_of,
    replace_scalar,
)


def _file(text: str | bytes) -> YamlFile:
    return YamlFile("x.yml", text.encode() if isinstance(text, str) else text)


def _replace(text: str, key: str, line: int, value: str, comment: str | None = None) -> str:
    file = _file(text)
    (entry,) = file.entries_at(key, line)
    return file.edited([replace_scalar(file, entry.value, value, comment)]).decode()


def _delete(text: str, key: str, line: int) -> str:
    file = _file(text)
    (entry,) = file.entries_at(key, line)
    return file.edited([delete_entry(file, entry)]).decode()


def _insert(text: str | bytes, **where: tuple[str, ...]) -> bytes:
    file = _file(text)
    return file.edited([insert_top_level(file, "permissions", {"contents": "read"}, **where)])


# --------------------------------------------------------------------------- lines


@pytest.mark.parametrize(("text", "newline"), [
    ("a: 1\nb: 2\n", "\n"),
    ("a: 1\r\nb: 2\r\n", "\r\n"),
    ("a: 1\r\nb: 2\r\nc: 3\n", "\r\n"),
    ("a: 1\r\nb: 2\nc: 3\n", "\n"),
    ("a: 1", "\n"),
])
def test_newline_is_the_one_most_lines_use(text: str, newline: str) -> None:
    assert newline_of(text) == newline


def test_indent_width_follows_the_file() -> None:
    assert _file("a:\n    b: 1\n").indent_width() == 4
    assert _file("a: [1]\nb:\n   c:\n      d: 1\n").indent_width() == 3
    assert _file("a: 1\n").indent_width() == 2


# --------------------------------------------------------------------------- replace


@pytest.mark.parametrize(("written", "expected"), [
    ("uses: actions/checkout@v4", "uses: actions/checkout@abc # v4"),
    ("uses: 'actions/checkout@v4'", "uses: 'actions/checkout@abc' # v4"),
    ('uses: "actions/checkout@v4"', 'uses: "actions/checkout@abc" # v4'),
    ("uses: actions/checkout@v4   # checkout", "uses: actions/checkout@abc # v4   # checkout"),
    ("uses: &co actions/checkout@v4", "uses: &co actions/checkout@abc # v4"),
    ("uses: !!str actions/checkout@v4", "uses: !!str actions/checkout@abc # v4"),
    ("{uses: actions/checkout@v4, with: {a: 1}}",
     "{uses: actions/checkout@abc, with: {a: 1}}"),
])
def test_replace_keeps_quoting_properties_and_comments(written: str, expected: str) -> None:
    text = f"steps:\n  - {written}\n  - run: make\n"
    result = _replace(text, "uses", 2, "actions/checkout@abc", comment="v4")
    assert result == f"steps:\n  - {expected}\n  - run: make\n"


def test_replace_escapes_for_the_quoting_in_use() -> None:
    assert _replace("a: 'x'\n", "a", 1, "it's") == "a: 'it''s'\n"
    assert _replace('a: "x"\n', "a", 1, 'say "hi" \\o/') == 'a: "say \\"hi\\" \\\\o/"\n'


def test_replace_through_an_anchor_changes_its_aliases_and_that_is_expected() -> None:
    text = "a: &v old\nb: *v\nc:\n  <<: {k: *v}\n"
    assert _replace(text, "a", 1, "new") == "a: &v new\nb: *v\nc:\n  <<: {k: *v}\n"


def test_replace_refuses_block_and_multi_line_scalars() -> None:
    file = _file("a: |\n  x\nb: 'one\n  two'\n")
    for key in ("a", "b"):
        entry = file.entry(file.root(), key)
        assert entry is not None
        with pytest.raises(EditRefused):
            replace_scalar(file, entry.value, "y")


def test_replace_refuses_a_value_that_would_read_differently() -> None:
    with pytest.raises(EditRefused, match=r"a: '1' would become 1"):
        _replace("a: x\n", "a", 1, "1")
    with pytest.raises(EditRefused, match=r"a: 'x #y' would become 'x'"):
        _replace("a: x\n", "a", 1, "x #y")
    with pytest.raises(EditRefused, match="would not parse"):
        _replace("a: x\n", "a", 1, "x: y")


def test_replace_in_a_later_document_keeps_every_marker() -> None:
    text = "%YAML 1.2\n---\na: 1\n...\n---\nb: old  # c\n...\n"
    assert _replace(text, "b", 6, "new") == text.replace("old", "new")


# --------------------------------------------------------------------------- delete


def test_delete_removes_whole_lines_and_keeps_comments_above() -> None:
    text = "job:\n  # why manual\n  when: manual  # gate\n  script: make\n"
    assert _delete(text, "when", 3) == "job:\n  # why manual\n  script: make\n"


def test_delete_removes_a_block_value_but_not_the_comment_after_it() -> None:
    text = "a: 1\nb:\n  - x\n  - run: |\n      # part of the script\n\n# about c\nc: 3\n"
    assert _delete(text, "b", 2) == "a: 1\n\n# about c\nc: 3\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("a: 1\nb:\nc: 3\n", "a: 1\nc: 3\n"),
    ("a: 1\nb:   # empty\nc: 3\n", "a: 1\nc: 3\n"),
    ("a: &v 1\nb: *v  # alias\nc: 3\n", "a: &v 1\nc: 3\n"),
    ("a: 1\nc: 3\nb: last", "a: 1\nc: 3\n"),
])
def test_delete_empty_alias_and_last_values(text: str, expected: str) -> None:
    file = _file(text)
    entry = file.entry(file.root(), "b")
    assert entry is not None
    assert file.edited([delete_entry(file, entry)]).decode() == expected


def test_delete_refuses_what_it_cannot_cut_as_lines() -> None:
    with pytest.raises(EditRefused, match="flow mapping"):
        _delete("job: {when: manual, script: make}\n", "when", 1)
    with pytest.raises(EditRefused, match="shares its line"):
        _delete("rules:\n  - when: manual\n    allow_failure: true\n", "when", 2)


def test_delete_refuses_to_leave_a_mapping_empty() -> None:
    # `job:` with nothing under it is null, not an empty mapping: more than intended.
    with pytest.raises(EditRefused, match="job: an empty mapping would become null"):
        _delete("job:\n  when: manual\nnext: 1\n", "when", 2)


# --------------------------------------------------------------------------- insert


def test_insert_before_a_key_goes_above_its_heading_comments() -> None:
    text = "on: push\n# the jobs\njobs:\n  a: 1\n"
    assert _insert(text, before=("jobs",)).decode() == (
        "on: push\npermissions:\n  contents: read\n# the jobs\njobs:\n  a: 1\n")


def test_insert_keeps_blank_line_separation() -> None:
    text = "on: push\n\njobs:\n  a: 1\n"
    assert _insert(text, before=("jobs",)).decode() == (
        "on: push\n\npermissions:\n  contents: read\n\njobs:\n  a: 1\n")
    text = "on:\n  push:\n\n\nenv: {}\n"
    assert _insert(text, before=("jobs",), after=("on",)).decode() == (
        "on:\n  push:\n\npermissions:\n  contents: read\n\n\nenv: {}\n")


def test_insert_uses_the_file_line_endings_and_indentation_and_keeps_a_bom() -> None:
    text = "\ufeff---\r\non: push\r\njobs:\r\n    a:\r\n        b: 1\r\n...\r\n"
    result = _insert(text.encode(), before=("jobs",))
    assert result == ("\ufeff---\r\non: push\r\npermissions:\r\n    contents: read\r\n"
                      "jobs:\r\n    a:\r\n        b: 1\r\n...\r\n").encode()


def test_insert_after_falls_back_to_the_end() -> None:
    assert _insert("on: push", before=("jobs",)) == b"on: push\npermissions:\n  contents: read\n"
    assert _insert("name: x\non:\n  push:\n    branches: [main]\n# done\n",
                   after=("on",)) == (
        b"name: x\non:\n  push:\n    branches: [main]\npermissions:\n  contents: read\n# done\n")


def test_insert_does_not_split_a_multi_line_scalar_that_looks_like_a_comment() -> None:
    text = 'on: push\nrun-name: "deploy\n# to prod"\njobs:\n  a: 1\n'
    assert _insert(text, before=("jobs",)).decode() == (
        'on: push\nrun-name: "deploy\n# to prod"\npermissions:\n  contents: read\n'
        'jobs:\n  a: 1\n')


def test_insert_keeps_reference_tags_and_quoted_on_keys() -> None:
    text = '"on": [push]\nx: !reference [.a, b]\njobs: {}\n'
    assert _insert(text, before=("jobs",)).decode() == (
        '"on": [push]\nx: !reference [.a, b]\npermissions:\n  contents: read\njobs: {}\n')


def test_insert_refuses_a_present_key_and_a_flow_or_empty_top_level() -> None:
    with pytest.raises(EditRefused, match="already at the top level"):
        _insert("permissions: {}\njobs: {}\n", before=("jobs",))
    with pytest.raises(EditRefused, match="not a block mapping"):
        _insert("{on: push}\n", before=("jobs",))
    with pytest.raises(EditRefused, match="not a block mapping"):
        _insert("", before=("jobs",))


# --------------------------------------------------------------------------- verification


def test_verification_sees_key_order() -> None:
    file = _file("a: 1\nb: 2\n")
    swap = Edit((Splice(0, 10, "b: 2\na: 1\n"),), lambda: None, "swap")
    with pytest.raises(EditRefused, match="keys 'a', 'b' would become 'b', 'a'"):
        file.edited([swap])


def test_verification_sees_tags() -> None:
    text = "x: !reference [.a, b]\n"
    file = _file(text)
    start = text.index("!reference")
    retag = Edit((Splice(start, start + len("!reference"), "!ref"),), lambda: None, "retag")
    with pytest.raises(EditRefused, match="would change more than intended"):
        file.edited([retag])


def test_verification_sees_documents() -> None:
    file = _file("a: 1\n")
    more = Edit((Splice(5, 5, "---\nb: 2\n"),), lambda: None, "another document")
    with pytest.raises(EditRefused, match="1 documents would become 2"):
        file.edited([more])


def test_overlapping_edits_are_refused_and_a_file_is_edited_once() -> None:
    file = _file("a: 1\n")
    first = Edit((Splice(0, 4, "a: 2"),), lambda: None, "one")
    second = Edit((Splice(3, 4, "3"),), lambda: None, "two")
    with pytest.raises(EditRefused, match="two edits touch the same text"):
        file.edited([first, second])
    with pytest.raises(RuntimeError):
        file.edited([])


def test_unreadable_input_is_refused() -> None:
    with pytest.raises(EditRefused, match="not valid UTF-8"):
        YamlFile("x.yml", b"a: \xff\n")
    with pytest.raises(EditRefused, match="invalid YAML"):
        _file("a: [\n")
    names = "abcdefg"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{name}: &{name} [{', '.join([f'*{names[i]}'] * 10)}]\n"
        for i, name in enumerate(names[1:]))
    with pytest.raises(EditRefused, match="YAML bomb"):
        _file(bomb)
