"""governance.yamlsafe: untrusted YAML in bounded time and memory, errors with lines."""

from __future__ import annotations

import itertools
import sys
import warnings

import pytest

from governance import yamlsafe
from governance.errors import FileProblem
from governance.yamlsafe import line_of, load_yaml, load_yaml_documents, tag_of


def _problem(text: str) -> FileProblem:
    with pytest.raises(FileProblem) as caught:
        load_yaml_documents(text, "ci.yml")
    assert caught.value.path == "ci.yml"
    return caught.value


def _bomb(levels: int, fan_out: int) -> str:
    names = "abcdefghijklmnop"[:levels]
    text = f"{names[0]}: &{names[0]} [{', '.join(['lol'] * fan_out)}]\n"
    for previous, name in itertools.pairwise(names):
        text += f"{name}: &{name} [{', '.join([f'*{previous}'] * fan_out)}]\n"
    return text


def test_github_workflow_keeps_on_as_a_string_key_and_lines() -> None:
    document = load_yaml("name: ci\non:\n  push:\n    branches: [main]\njobs: {}\n", "ci.yml")
    assert list(document) == ["name", "on", "jobs"]  # YAML 1.2: `on` is not True
    assert line_of(document, "on") == 2
    assert line_of(document["on"]["push"], "branches") == 4


def test_gitlab_anchors_merge_keys_and_reference_tags_load() -> None:
    text = (
        ".base: &base\n  image: alpine\n  tags: [docker]\n"
        "build:\n  <<: *base\n  script:\n    - !reference [.setup, script]\n    - make\n"
    )
    document = load_yaml(text, ".gitlab-ci.yml")
    assert document["build"]["image"] == "alpine"
    assert document["build"]["tags"] == ["docker"]
    assert tag_of(document["build"]["script"][0]) == "!reference"
    assert line_of(document["build"]["script"], 1) == 8
    # A key that arrived through the merge has no line of its own: its mapping's line.
    assert line_of(document["build"], "image") == 5


def test_several_documents_and_empty_text() -> None:
    assert load_yaml_documents("a: 1\n---\nb: 2\n", "k8s.yml") == [{"a": 1}, {"b": 2}]
    assert load_yaml("", "empty.yml") is None
    assert load_yaml("# only a comment\n", "empty.yml") is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: [1, 2\nb: 3\n", 2, "invalid YAML: while parsing a flow sequence; expected ',' or ']'"),
        ("jobs:\n\tbuild: x\n", 2, "found character '\\t' that cannot start any token"),
        ("a: 1\nb: 2\na: 3\n", 3, 'found duplicate key "a" with value "3" (original value: "1")'),
        ("a: &x 1\nb: *y\n", 2, "invalid YAML: alias *y refers to no anchor"),
        ("a: &x [1, *x]\n", 1, "invalid YAML: recursive alias *x"),
        ("a: &x\n  b:\n    c: *x\n", 3, "invalid YAML: recursive alias *x"),
        ("a: 1\n---\nb: [\n", 4, "expected the node content, but found '<stream end>'"),
        ("x: &a 1\ny:\n  <<: *a\n", 1, "expected a mapping or list of mappings for merging"),
    ],
    ids=["unclosed-flow", "tab", "duplicate", "undefined-alias", "recursive-seq",
         "recursive-map", "second-document", "merge-scalar"],
)
def test_invalid_yaml_names_the_line(text: str, line: int, message: str) -> None:
    problem = _problem(text)
    assert problem.line == line
    assert message in problem.reason
    assert str(problem).startswith(f"ci.yml:{line}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: \x00\n", "unacceptable character #x0000"),
        pytest.param("a: " + "9" * 5000 + "\n", "Exceeds the limit (4300 digits)",
                     marks=pytest.mark.skipif(sys.version_info < (3, 11),
                                              reason="int digit limit since Python 3.11")),
        ("a: 2025-13-45\n", "month must be in 1..12"),
    ],
    ids=["nul", "huge-int", "bad-date"],
)
def test_values_that_fail_to_construct_are_file_problems(text: str, message: str) -> None:
    assert message in _problem(text).reason


def test_billion_laughs_is_refused_at_the_line_where_it_explodes() -> None:
    problem = _problem(_bomb(levels=9, fan_out=10))
    assert problem.reason == (
        f"YAML expands to more than {yamlsafe.MAX_EXPANDED_NODES} nodes through aliases "
        "(a YAML bomb?); refused"
    )
    assert problem.line == 6  # 10**6 nodes at the sixth anchor


def test_bomb_through_merge_keys_is_refused() -> None:
    text = "a: &a {x: 1, y: 2, z: 3, w: 4, v: 5}\n" + "".join(
        f"{n}: &{n}\n" + "".join(f"  k{i}: {{<<: *{p}}}\n" for i in range(12))
        for p, n in itertools.pairwise("abcdefgh")
    )
    assert "YAML bomb" in _problem(text).reason


def test_aliases_that_expand_moderately_load() -> None:
    document = load_yaml(_bomb(levels=3, fan_out=10), "ok.yml")  # 1,000 leaves
    assert len(document["c"]) == 10 and document["c"][0][0][0] == "lol"


def test_anchor_name_reused_for_a_scalar_inside_its_collection_is_not_recursion() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        document = load_yaml("a: &x [&x 1, *x]\n", "ok.yml")
    assert document == {"a": [1, 1]}
    assert caught == []  # ruamel's ReusedAnchorWarning stays quiet


def test_deep_flow_nesting_is_refused_with_its_line() -> None:
    depth = yamlsafe.MAX_DEPTH + 1
    problem = _problem("ok: 1\nx: " + "[" * depth + "]" * depth + "\n")
    assert problem.reason == f"YAML nests deeper than {yamlsafe.MAX_DEPTH} levels; refused"
    assert problem.line == 2


def test_a_megabyte_of_brackets_is_refused_not_scanned() -> None:
    # Unchecked, ruamel spends minutes on this (work per token grows with the depth).
    problem = _problem("x: " + "[" * 500_000)
    assert "nests deeper than" in problem.reason


def test_nesting_at_the_limit_loads() -> None:
    depth = yamlsafe.MAX_DEPTH - 1
    document = load_yaml("x: " + "[" * depth + "1" + "]" * depth + "\n", "ok.yml")
    node = document["x"]
    for _ in range(depth - 1):
        node = node[0]
    assert node == [1]


def test_deep_block_nesting_is_a_file_problem_not_a_recursion_error() -> None:
    # Short, no alias, no bracket: no extra pass; the composer's recursion ends it.
    assert _problem("- " * 3000 + "x\n").reason == "invalid YAML: nested too deeply to load"
    # Long enough for the extra pass: refused by depth, with a line.
    text = "".join("  " * level + f"k{level}:\n" for level in range(300))
    problem = _problem(text)
    assert problem.reason == f"YAML nests deeper than {yamlsafe.MAX_DEPTH} levels; refused"
    assert problem.line == yamlsafe.MAX_DEPTH + 1  # where the 101st mapping starts


def test_node_limit_applies_to_large_texts_without_aliases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real limit (100,000 nodes) takes seconds to reach; the rule is the same.
    monkeypatch.setattr(yamlsafe, "MAX_NODES", 300)
    monkeypatch.setattr(yamlsafe, "_SMALL_TEXT", 200)
    problem = _problem("items:\n" + "".join(f"  - item{i}\n" for i in range(400)))
    assert problem.reason == "YAML has more than 300 nodes; refused"
    # The 301st node: the document's mapping, `items`, the list, then item0..item297.
    assert problem.line == 299
    assert len(load_yaml("items:\n" + "  - x\n" * 100, "ok.yml")["items"]) == 100


def test_small_texts_skip_the_node_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsafe, "MAX_NODES", 10)
    monkeypatch.setattr(yamlsafe, "_SMALL_TEXT", 10_000)
    # 20 nodes, but short and without aliases or brackets: no extra pass, loads.
    assert len(load_yaml("items:\n" + "  - x\n" * 18, "ok.yml")["items"]) == 18


def test_line_of_and_tag_of_on_plain_values() -> None:
    assert line_of("plain string") is None
    assert line_of({"a": 1}, "a") is None  # a plain dict has no positions
    assert tag_of("plain") is None
    document = load_yaml("a:\n  - 1\n  - 2\n", "x.yml")
    assert line_of(document["a"], 1) == 3
    assert line_of(document, "missing") == 1  # falls back to the mapping's own line
