"""governance.ci.jenkins: Jenkinsfiles and the `input` steps in their code."""


import pytest

from governance.ci.jenkins import find_input_steps, jenkinsfile_paths, mask_groovy, stages
from governance.testing import memory_files


def test_jenkinsfile_paths_finds_the_usual_names_only() -> None:
    files = memory_files({name: "node {}\n" for name in (
        "Jenkinsfile", "ci/Jenkinsfile", "jenkins/Jenkinsfile.release", "deploy.jenkinsfile",
        "docs/Jenkinsfile.md", "node_modules/x/Jenkinsfile", "src/jenkins.groovy",
    )})
    assert jenkinsfile_paths(files) == [
        "Jenkinsfile", "ci/Jenkinsfile", "deploy.jenkinsfile", "jenkins/Jenkinsfile.release"]


def test_mask_keeps_offsets_lines_and_quotes() -> None:
    text = "a // input 'x'\nb = 'in\\'put' /* c\nd */ e \"\"\"x\ny\"\"\" f\n"
    masked = mask_groovy(text)
    assert len(masked) == len(text)
    assert masked.count("\n") == text.count("\n")
    assert "input" not in masked
    assert masked.split("\n")[0].rstrip() == "a"
    assert "b = '" in masked and "' " in masked  # delimiters stay, contents go
    assert masked.split("\n")[2].strip().startswith("e \"\"\"")


@pytest.mark.parametrize("code", [
    "input 'Proceed?'",
    'input "Proceed?"',
    "input message: 'Deploy?', ok: 'Yes'",
    "input(message: 'Deploy?')",
    "input (id: 'x')",
    "def answer = input message: 'Deploy?', parameters: [string(name: 'V')]",
    "input {\n  message 'Deploy?'\n}",
    "steps.input message: 'from a shared library'",
])
def test_input_steps_are_found(code: str) -> None:
    (hit,) = find_input_steps(f"node {{\n  {code}\n}}\n", "Jenkinsfile")
    assert hit.line == 2


@pytest.mark.parametrize("code", [
    "// input 'Proceed?'",
    "/* input 'Proceed?' */",
    "echo 'waiting for input(s)'",
    'sh "read -p input: x"',
    "def input = params.INPUT",
    "input = 'x'",
    "echo input",
    "foo.input('x')",
    "x = [input: 1]",
    "inputs 'x'",
    "userInput 'x'",
    "when { beforeInput true }",
])
def test_other_uses_of_the_word_are_not_steps(code: str) -> None:
    assert find_input_steps(f"node {{\n  {code}\n}}\n", "Jenkinsfile") == []


def test_enclosing_stage_is_the_innermost() -> None:
    text = (
        "pipeline {\n"
        "  stages {\n"
        "    stage('Release') {\n"
        "      stages {\n"
        "        stage(\"Approve\") {\n"
        "          input { message 'ok?' }\n"
        "        }\n"
        "      }\n"
        "    }\n"
        "    stage('After') { steps { input 'again?' } }\n"
        "  }\n"
        "}\n"
        "input 'outside'\n"
    )
    assert [s.name for s in stages(text)] == ["Release", "Approve", "After"]
    hits = find_input_steps(text, "Jenkinsfile")
    assert [(h.line, h.stage) for h in hits] == [(6, "Approve"), (10, "After"), (13, None)]
    assert hits[0].text == "input { message 'ok?' }"
