"""governance.ci.gitlab_ci: the pipeline GitLab would build, with files and lines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from governance.ci.gitlab_ci import GitLabPipeline, load_pipeline
from governance.demo import make_repo
from governance.errors import FileProblem
from governance.providers.base import Needs
from governance.providers.local import LocalProvider
from governance.snapshot import RepoFiles, RepoSnapshot
from governance.testing import memory_files


def _load(files: Mapping[str, str]) -> GitLabPipeline:
    pipeline = load_pipeline(memory_files(files))
    assert pipeline is not None
    return pipeline


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def test_missing_file_gives_none() -> None:
    assert load_pipeline(memory_files({"README.md": "hi"})) is None


def test_global_keywords_are_not_jobs_and_pages_is() -> None:
    pipeline = _load({".gitlab-ci.yml": (
        "stages: [build, deploy]\nvariables: {A: b}\nworkflow: {rules: [{when: always}]}\n"
        "image: alpine\nservices: [docker:dind]\ncache: {paths: [x]}\n"
        "before_script: [echo b]\nafter_script: [echo a]\ndefault: {tags: [x]}\n"
        ".hidden: {script: [echo]}\n"
        "pages:\n  script: [make site]\nbuild:\n  script: [make]\n"
    )})
    assert [job.name for job in pipeline.jobs] == ["pages", "build"]
    assert pipeline.files == (".gitlab-ci.yml",)
    assert pipeline.unresolved == ()


def test_scripts_with_lines_and_default_inheritance() -> None:
    text = (
        "default:\n"
        "  image: python:3.12\n"
        "  before_script:\n"
        "    - pip install -r requirements.txt\n"
        "build:\n"
        "  script:\n"
        "    - |\n"
        "      make build\n"
        "      terraform fmt \\\n"
        "        -check\n"
        "    - echo done\n"
        "  after_script: [echo bye]\n"
        "lint:\n"
        "  image: {name: hadolint/hadolint, entrypoint: ['']}\n"
        "  inherit:\n"
        "    default: false\n"
        "  script: hadolint Dockerfile\n"
        "some:\n"
        "  inherit:\n"
        "    default: [image]\n"
        "  script: [true]\n"
    )
    pipeline = _load({".gitlab-ci.yml": text})
    build, lint, some = pipeline.jobs
    assert build.scripts == (
        ("pip install -r requirements.txt", 4),
        ("make build", _line(text, "make build")),
        ("terraform fmt -check", _line(text, "terraform fmt")),
        ("echo done", _line(text, "echo done")),
        ("echo bye", _line(text, "echo bye")),
    )
    assert [c.section for c in build.commands] == [
        "before_script", "script", "script", "script", "after_script"]
    assert build.image == "python:3.12"
    assert (build.path, build.line) == (".gitlab-ci.yml", 5)
    # inherit: default: false -> no default before_script, its own image mapping
    assert lint.scripts == (("hadolint Dockerfile", _line(text, "hadolint Dockerfile")),)
    assert lint.image == "hadolint/hadolint"
    # inherit: default: [image] -> the image but not before_script
    assert some.image == "python:3.12"
    assert [text for text, _ in some.scripts] == ["True"]


def test_global_before_script_and_image_act_as_defaults() -> None:
    pipeline = _load({".gitlab-ci.yml": (
        "image: node:20\nbefore_script: [npm ci]\ntest:\n  script: [npm test]\n"
    )})
    (test,) = pipeline.jobs
    assert test.image == "node:20"
    assert test.scripts == (("npm ci", 2), ("npm test", 4))


def test_include_local_glob_and_override_order() -> None:
    root = (
        "include:\n"
        "  - local: /ci/*.yml\n"
        "  - 'other.yml'\n"
        "build:\n"
        "  stage: override\n"
    )
    pipeline = _load({
        ".gitlab-ci.yml": root,
        "ci/a.yml": "build:\n  stage: a\n  script: [make]\n  variables: {A: '1', B: '1'}\n",
        "ci/b.yml": "build:\n  variables: {B: '2'}\ntest:\n  script: [make test]\n",
        "ci/sub/c.yml": "ignored:\n  script: [nope]\n",
        "ci/readme.md": "not yaml",
        "other.yml": "include: ci/a.yml\nlint:\n  script: [lint]\n",
    })
    assert pipeline.files == (".gitlab-ci.yml", "ci/a.yml", "ci/b.yml", "other.yml")
    assert [job.name for job in pipeline.jobs] == ["build", "test", "lint"]
    build = pipeline.job("build")
    assert build is not None
    # hashes merge across files, the including file wins, later includes win
    assert build.raw["stage"] == "override"
    assert dict(build.raw["variables"]) == {"A": "1", "B": "2"}
    assert build.path == ".gitlab-ci.yml"
    assert build.commands[0].path == "ci/a.yml"
    assert build.scripts == (("make", None),)  # written in another file than the job's
    test = pipeline.job("test")
    assert test is not None and (test.path, test.line) == ("ci/b.yml", 3)


def test_double_star_wildcard_reaches_subfolders() -> None:
    pipeline = _load({
        ".gitlab-ci.yml": "include: 'ci/**.yml'\n",
        "ci/a.yml": "a:\n  script: [a]\n",
        "ci/deep/b.yml": "b:\n  script: [b]\n",
    })
    assert sorted(job.name for job in pipeline.jobs) == ["a", "b"]


def test_unresolved_includes_are_described() -> None:
    pipeline = _load({".gitlab-ci.yml": (
        "include:\n"
        "  - project: group/ci-templates\n"
        "    ref: v1\n"
        "    file: [/deploy.yml, /lint.yml]\n"
        "  - remote: https://example.invalid/ci.yml\n"
        "  - https://example.invalid/other.yml\n"
        "  - template: Security/SAST.gitlab-ci.yml\n"
        "  - component: gitlab.com/acme/components/build@1.0\n"
        "  - local: ci/missing.yml\n"
        "  - local: ci/$ENVIRONMENT.yml\n"
        "build:\n  script: [make]\n"
    )})
    assert [job.name for job in pipeline.jobs] == ["build"]
    text = "\n".join(pipeline.unresolved)
    assert len(pipeline.unresolved) == 7
    assert "project group/ci-templates@v1 file /deploy.yml, /lint.yml (.gitlab-ci.yml:2)" in text
    assert "remote https://example.invalid/ci.yml" in text
    assert "remote https://example.invalid/other.yml" in text
    assert "template Security/SAST.gitlab-ci.yml" in text
    assert "component gitlab.com/acme/components/build@1.0" in text
    assert "local ci/missing.yml: no such file (.gitlab-ci.yml:9)" in text
    assert "local ci/$ENVIRONMENT.yml: depends on CI/CD variables" in text


def test_include_cycle_reads_each_file_once() -> None:
    pipeline = _load({
        ".gitlab-ci.yml": "include: a.yml\nroot:\n  script: [r]\n",
        "a.yml": "include: [b.yml]\na:\n  script: [a]\n",
        "b.yml": "include: [a.yml, .gitlab-ci.yml]\nb:\n  script: [b]\n",
    })
    assert pipeline.files == (".gitlab-ci.yml", "a.yml", "b.yml")
    assert sorted(job.name for job in pipeline.jobs) == ["a", "b", "root"]


def test_extends_multi_level_and_multiple_parents() -> None:
    pipeline = _load({".gitlab-ci.yml": (
        ".base:\n  image: alpine\n  variables: {A: base, B: base}\n  script: [base]\n"
        ".middle:\n  extends: .base\n  variables: {B: middle}\n"
        ".docker:\n  image: docker:27\n  tags: [docker]\n"
        "job:\n  extends: [.middle, .docker]\n  variables: {C: job}\n"
    )})
    (job,) = pipeline.jobs
    assert job.image == "docker:27"  # the later parent wins
    assert dict(job.raw["variables"]) == {"A": "base", "B": "middle", "C": "job"}
    assert job.scripts == (("base", 4),)
    assert job.extends == (".middle", ".docker")


def test_extends_replaces_arrays() -> None:
    pipeline = _load({".gitlab-ci.yml": (
        ".base:\n  script: [one, two]\njob:\n  extends: .base\n  script: [three]\n"
    )})
    assert [text for text, _ in pipeline.jobs[0].scripts] == ["three"]


def test_extends_cycle_is_a_file_problem_at_the_extends_line() -> None:
    with pytest.raises(FileProblem) as raised:
        _load({".gitlab-ci.yml": (
            ".a:\n  extends: .b\n.b:\n  extends: .a\njob:\n  extends: .a\n  script: [x]\n"
        )})
    assert raised.value.path == ".gitlab-ci.yml"
    assert "circular `extends`" in raised.value.reason
    assert raised.value.line in (2, 4)


def test_extends_unknown_parent_is_a_problem_unless_includes_are_unresolved() -> None:
    with pytest.raises(FileProblem, match="no such job"):
        _load({".gitlab-ci.yml": "job:\n  extends: .nowhere\n  script: [x]\n"})
    pipeline = _load({".gitlab-ci.yml": (
        "include: {project: g/t, file: t.yml}\njob:\n  extends: .nowhere\n  script: [x]\n"
    )})
    assert [job.name for job in pipeline.jobs] == ["job"]
    assert any("extends: .nowhere" in item for item in pipeline.unresolved)


def test_reference_is_resolved_and_flattened_with_lines() -> None:
    templates = ".setup:\n  script:\n    - apt-get update\n    - [apt-get install -y jq]\n"
    pipeline = _load({
        ".gitlab-ci.yml": (
            "include: ci/templates.yml\n"
            ".vars:\n  variables: {REGION: eu}\n"
            "job:\n"
            "  variables: !reference [.vars, variables]\n"
            "  script:\n"
            "    - !reference [.setup, script]\n"
            "    - make\n"
        ),
        "ci/templates.yml": templates,
    })
    (job,) = pipeline.jobs
    assert [c.text for c in job.commands] == ["apt-get update", "apt-get install -y jq", "make"]
    assert [(c.path, c.line) for c in job.commands[:2]] == [
        ("ci/templates.yml", 3), ("ci/templates.yml", 4)]
    assert job.scripts[-1] == ("make", 8)
    assert dict(job.raw["variables"]) == {"REGION": "eu"}


def test_reference_sees_the_target_after_extends() -> None:
    pipeline = _load({".gitlab-ci.yml": (
        ".base:\n  script: [from-base]\n.child:\n  extends: .base\n"
        "job:\n  script: [!reference [.child, script]]\n"
    )})
    assert [text for text, _ in pipeline.jobs[0].scripts] == ["from-base"]


def test_reference_cycle_is_a_file_problem() -> None:
    with pytest.raises(FileProblem, match="nested deeper"):
        _load({".gitlab-ci.yml": ".a:\n  script: [!reference [.a, script]]\njob:\n"
                                 "  script: [!reference [.a, script]]\n"})


def test_manual_job_level_and_anchor_lines() -> None:
    text = (
        ".manual: &manual\n"
        "  when: manual\n"
        "deploy:\n"
        "  script: [./deploy]\n"
        "  when: manual\n"
        "anchored:\n"
        "  <<: *manual\n"
        "  script: [./x]\n"
        "auto:\n"
        "  script: [./y]\n"
        "  when: on_success\n"
    )
    pipeline = _load({".gitlab-ci.yml": text})
    manual = {job.name: job.manual for job in pipeline.jobs}
    assert manual["auto"] is None
    deploy, anchored = manual["deploy"], manual["anchored"]
    assert deploy is not None and (deploy.line, deploy.reason) == (5, "when: manual")
    # the line of the anchor's `when: manual`, not of the `<<:` merge
    assert anchored is not None and anchored.line == 2


@pytest.mark.parametrize(("rules", "expected"), [
    # an always-matching entry hides everything after it
    ("    - when: on_success\n    - if: $X\n      when: manual\n", None),
    ("    - when: never\n    - when: manual\n", None),
    # conditional entries before a manual one leave it reachable
    ("    - if: $CI_COMMIT_TAG\n    - when: manual\n", "rules[1]: when: manual"),
    ("    - changes: [x]\n      when: always\n    - exists: [y]\n      when: manual\n",
     "rules[1]: when: manual"),
    ("    - when: manual\n    - if: $X\n", "rules[0]: when: manual"),
])
def test_rules_reachability(rules: str, expected: str | None) -> None:
    pipeline = _load({".gitlab-ci.yml": f"job:\n  script: [x]\n  rules:\n{rules}"})
    gate = pipeline.jobs[0].manual
    assert (gate.reason if gate else None) == expected


def test_rule_without_when_falls_back_to_job_level_manual() -> None:
    text = "job:\n  script: [x]\n  when: manual\n  rules:\n    - if: $CI_COMMIT_TAG\n"
    gate = _load({".gitlab-ci.yml": text}).jobs[0].manual
    assert gate is not None and gate.line == 3
    # every reachable rule sets its own when: the job-level manual never applies
    text = ("job:\n  script: [x]\n  when: manual\n  rules:\n    - if: $A\n      when: always\n"
            "    - when: never\n")
    assert _load({".gitlab-ci.yml": text}).jobs[0].manual is None


def test_manual_rules_through_reference_and_extends_from_included_file() -> None:
    rules = ".rules:\n  deploy:\n    - if: $CI_COMMIT_BRANCH == 'main'\n      when: manual\n"
    pipeline = _load({
        ".gitlab-ci.yml": (
            "include: [{local: ci/rules.yml}, {local: ci/deploy.yml}]\n"
            "prod:\n  extends: .deploy\n"
            "stage:\n  script: [x]\n  rules: [!reference [.rules, deploy]]\n"
        ),
        "ci/rules.yml": rules,
        "ci/deploy.yml": ".deploy:\n  script: [./deploy]\n  when: manual\n",
    })
    prod, stage = pipeline.jobs
    assert prod.manual is not None
    assert (prod.manual.path, prod.manual.line) == ("ci/deploy.yml", 3)
    assert stage.manual is not None
    assert (stage.manual.path, stage.manual.line, stage.manual.reason) == (
        "ci/rules.yml", 4, "rules[0]: when: manual")


def test_spec_header_document_is_skipped() -> None:
    pipeline = _load({".gitlab-ci.yml": (
        "spec:\n  inputs:\n    env: {default: dev}\n---\njob:\n  script: [x]\n"
    )})
    assert [(job.name, job.line) for job in pipeline.jobs] == [("job", 5)]


def test_invalid_yaml_in_an_included_file_is_a_file_problem() -> None:
    with pytest.raises(FileProblem) as raised:
        _load({".gitlab-ci.yml": "include: ci/bad.yml\n", "ci/bad.yml": "job: [unclosed\n"})
    assert raised.value.path == "ci/bad.yml"


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(FileProblem, match="must be a mapping"):
        _load({".gitlab-ci.yml": "- just\n- a list\n"})


def test_reads_a_real_git_checkout(tmp_path: Path) -> None:
    """The same model over the local provider (committed tree, git objects)."""
    repo = make_repo(tmp_path / "repo", {
        ".gitlab-ci.yml": "include: ci/jobs.yml\n",
        "ci/jobs.yml": "deploy:\n  script: [./deploy]\n  when: manual\n",
    })
    provider = LocalProvider(repo)
    (snapshot,) = list(provider.snapshots(provider.list_repos(), Needs()))
    assert isinstance(snapshot, RepoSnapshot)
    try:
        pipeline = load_pipeline(RepoFiles(snapshot))
    finally:
        snapshot.close()
    assert pipeline is not None
    (deploy,) = pipeline.jobs
    assert deploy.manual is not None and (deploy.manual.path, deploy.manual.line) == (
        "ci/jobs.yml", 3)


def test_jobs_keep_configuration_order_whatever_they_extend() -> None:
    pipeline = _load({".gitlab-ci.yml": (
        "first:\n  extends: second\n  script: [a]\nsecond:\n  script: [b]\n"
    )})
    assert [job.name for job in pipeline.jobs] == ["first", "second"]
