"""Infrastructure as code in a repository: which kinds, in which files, and what lints them.

Kinds are recognized the way their tools recognize them (see the table in the reference
standards): file names for Terraform, Dockerfiles, Helm charts, CDK apps, Serverless
Framework services and Pulumi projects; content for CloudFormation / SAM templates,
Kubernetes manifests and Ansible playbooks. Content is only parsed for YAML / JSON files
whose text mentions what the kind needs (`AWSTemplateFormatVersion` or an `AWS::` type;
`apiVersion` and `kind`; `hosts:`), outside CI configuration, dependency folders, build
output and Helm templates (Go templates, not YAML), so the work stays bounded. Test
fixtures (testdata/, fixtures/) are not infrastructure anyone deploys and are skipped.

`lint_coverage` answers, per kind, which CI invocations (see `governance.ci.commands`)
run a linter or validator that checks it. The linters, actions, images, pre-commit hooks
and CI templates it knows are listed in LINTERS; multi-kind tools (checkov, trivy, kics,
super-linter, megalinter) are narrowed by their options (`--framework`, `scan-type`,
`VALIDATE_*`, `ENABLE` / `DISABLE`...) where the invocation shows them.

The module also inventories serverless functions and the configurations that bundle them
(`serverless_inventory`), for the `serverless-bundled` policy.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from governance.ci import commands, systems
from governance.ci.commands import Invocation
from governance.errors import FileProblem
from governance.snapshot import RepoFiles
from governance.yamlsafe import line_of

TERRAFORM = "terraform"
CLOUDFORMATION = "cloudformation"
SAM = "sam"
SERVERLESS = "serverless"
CDK = "cdk"
KUBERNETES = "kubernetes"
HELM = "helm"
DOCKERFILE = "dockerfile"
ANSIBLE = "ansible"
PULUMI = "pulumi"

KINDS: dict[str, str] = {  # id -> label, in report order
    TERRAFORM: "Terraform",
    CLOUDFORMATION: "CloudFormation",
    SAM: "AWS SAM",
    SERVERLESS: "Serverless Framework",
    CDK: "AWS CDK",
    KUBERNETES: "Kubernetes manifests",
    HELM: "Helm charts",
    DOCKERFILE: "Dockerfiles",
    ANSIBLE: "Ansible",
    PULUMI: "Pulumi",
}

MAX_READ_FILES = 10_000  # YAML / JSON files whose text is searched for hints, per repository
MAX_PARSED_FILES = 3000  # of those, files parsed because their text has a hint

# Build output and test fixtures: not infrastructure anyone deploys.
_SKIPPED_PARTS = frozenset({"cdk.out", ".serverless", ".aws-sam", ".terragrunt-cache",
                            ".idea", ".vscode", "dist", "__pycache__",
                            "testdata", "fixtures", "__fixtures__", "test-fixtures"})
_SKIPPED_NAMES = frozenset({
    "package.json", "package-lock.json", "npm-shrinkwrap.json", "composer.json",
    "composer.lock", "tsconfig.json", "jsconfig.json", "renovate.json", ".pre-commit-config.yaml",
    ".pre-commit-hooks.yaml", "mkdocs.yml", "mkdocs.yaml", ".yamllint", ".yamllint.yml",
    ".yamllint.yaml", "chart.yaml", "chart.lock", "pulumi.yaml", "pulumi.yml", "cdk.json",
    "cdk.context.json", "pnpm-lock.yaml", "yarn.lock", ".markdownlint.json", ".eslintrc.json",
    "catalog-info.yaml", "codecov.yml", ".codecov.yml", "dependabot.yml", "samconfig.yaml",
})
_TEXT_SUFFIXES = (".md", ".txt", ".rst", ".adoc", ".orig", ".bak", ".swp", ".html",
                  ".dockerignore", ".png", ".svg")
# apiVersion groups of YAML that looks like a manifest but is not deployed to a cluster.
_NOT_MANIFESTS = ("backstage.io/", "skaffold/", "kind.x-k8s.io/", "k3d.io/", "ctlptl.dev/",
                  "kuttl.dev/", "kustomize.config.k8s.io/")
_CFN_HINT = re.compile(r"AWSTemplateFormatVersion|\bAWS::[A-Za-z0-9]+::")
_K8S_HINT = re.compile(r"^\s*[\"']?apiVersion[\"']?\s*:", re.MULTILINE)
_KIND_HINT = re.compile(r"^\s*[\"']?kind[\"']?\s*:", re.MULTILINE)
_ANSIBLE_HINT = re.compile(
    r"^\s*-?\s*(hosts|import_playbook|ansible\.builtin\.import_playbook)\s*:", re.MULTILINE)


def label(kind: str) -> str:
    return KINDS.get(kind, kind)


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class Template:
    """A CloudFormation (or SAM) template, as far as serverless bundling cares."""

    path: str
    sam: bool
    functions: tuple[tuple[str, str, int | None], ...]  # (logical id, type, line)
    nested: tuple[str, ...]  # local templates it deploys as nested stacks / applications


@dataclass
class IacInventory:
    kinds: dict[str, list[str]] = field(default_factory=dict)  # kind -> sorted paths
    problems: list[FileProblem] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    truncated: bool = False  # some YAML / JSON candidates were not examined (bounds)

    def add(self, kind: str, path: str) -> None:
        paths = self.kinds.setdefault(kind, [])
        if path not in paths:
            paths.append(path)

    def ordered(self) -> dict[str, list[str]]:
        return {kind: sorted(self.kinds[kind]) for kind in KINDS if self.kinds.get(kind)}


def _skipped(path: str) -> bool:
    parts = path.split("/")
    return systems.vendored(path) or any(part in _SKIPPED_PARTS for part in parts[:-1])


def _own(paths: Iterable[str]) -> list[str]:
    return [p for p in paths if not _skipped(p)]


def helm_charts(files: RepoFiles) -> list[str]:
    """Chart.yaml files with a templates/ folder beside them."""
    charts = []
    for path in _own(files.glob("**/Chart.yaml", "**/Chart.yml")):
        folder = posixpath.dirname(path)
        prefix = f"{folder}/templates/" if folder else "templates/"
        if any(p.startswith(prefix) for p in files.under(prefix.rstrip("/"))):
            charts.append(path)
    return charts


def dockerfiles(files: RepoFiles) -> list[str]:
    found = files.glob("**/Dockerfile", "**/Dockerfile.*", "**/*.Dockerfile", "**/*.dockerfile",
                       "**/Containerfile", "**/Containerfile.*")
    return [p for p in _own(found) if not p.lower().endswith(_TEXT_SUFFIXES)]


def _serverless_services(files: RepoFiles, inventory: IacInventory) -> list[str]:
    services = []
    for path in _own(files.glob("**/serverless.yml", "**/serverless.yaml", "**/serverless.json",
                                "**/serverless.ts", "**/serverless.js")):
        try:
            if path.lower().endswith((".yml", ".yaml")):
                document = files.yaml(path)
                if isinstance(document, dict) and "service" in document:
                    services.append(path)
            elif path.lower().endswith(".json"):
                document = json.loads(files.read_text(path))
                if isinstance(document, dict) and "service" in document:
                    services.append(path)
            elif re.search(r"\bservice\b", files.read_text(path)):
                services.append(path)
        except FileProblem as problem:
            inventory.problems.append(problem)
        except ValueError as error:
            inventory.problems.append(FileProblem(path, f"invalid JSON: {error}"))
    return services


def _cdk_apps(files: RepoFiles, inventory: IacInventory) -> list[str]:
    apps = []
    for path in _own(files.glob("**/cdk.json")):
        try:
            document = json.loads(files.read_text(path))
        except FileProblem as problem:
            inventory.problems.append(problem)
            continue
        except ValueError as error:
            inventory.problems.append(FileProblem(path, f"invalid JSON: {error}"))
            continue
        if isinstance(document, dict) and "app" in document:
            apps.append(path)
    return apps


def _candidates(files: RepoFiles, excluded: set[str], chart_folders: list[str]) -> list[str]:
    found = []
    for path in files.glob("**/*.yml", "**/*.yaml", "**/*.json", "**/*.template"):
        if path in excluded or _skipped(path):
            continue
        name = posixpath.basename(path).lower()
        if name in _SKIPPED_NAMES or name.startswith(("serverless.", "serverless-compose.")):
            continue
        if name.startswith(("docker-compose", "compose.", "values")) or name.endswith(".lock"):
            continue
        if any(path.startswith(f"{folder}templates/") for folder in chart_folders):
            continue
        found.append(path)
    return found


def _documents(files: RepoFiles, path: str) -> list[Any]:
    if path.lower().endswith(".json"):
        try:
            return [json.loads(files.read_text(path))]
        except ValueError as error:
            raise FileProblem(path, f"invalid JSON: {error}") from None
    return files.yaml_documents(path)


def _types(resources: Any) -> list[tuple[str, str, int | None]]:
    if not isinstance(resources, dict):
        return []
    found = []
    for name, resource in resources.items():
        if isinstance(resource, dict) and isinstance(resource.get("Type"), str):
            found.append((str(name), str(resource["Type"]), line_of(resources, name)))
    return found


def _is_sam(document: Mapping[str, Any]) -> bool:
    transform = document.get("Transform")
    values = transform if isinstance(transform, list) else [transform]
    return any(isinstance(v, str) and v.startswith("AWS::Serverless") for v in values)


_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


def _template(path: str, document: Mapping[str, Any]) -> Template | None:
    resources = document.get("Resources")
    types = _types(resources)
    is_template = "AWSTemplateFormatVersion" in document or any(
        t.startswith(("AWS::", "Alexa::")) for _, t, _ in types)
    if not is_template:
        return None
    nested = []
    for name, kind, _ in types:
        properties = resources[name].get("Properties") if isinstance(resources, dict) else None
        if not isinstance(properties, dict):
            continue
        key = {"AWS::Serverless::Application": "Location",
               "AWS::CloudFormation::Stack": "TemplateURL"}.get(kind)
        location = properties.get(key) if key else None
        if isinstance(location, str) and "://" not in location and "$" not in location:
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), location))
            if not joined.startswith(".."):
                nested.append(joined)
    functions = tuple(t for t in types if t[1] in _FUNCTION_TYPES)
    return Template(path, _is_sam(document), functions, tuple(nested))


def _is_manifest(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    api, kind = document.get("apiVersion"), document.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str):
        return False
    return not (api.startswith(_NOT_MANIFESTS) or (api == "v1" and kind == "Config"))


def _is_playbook(document: Any) -> bool:
    if not isinstance(document, list) or not document:
        return False
    plays = [p for p in document if isinstance(p, dict)]
    return bool(plays) and all(
        "import_playbook" in play or "ansible.builtin.import_playbook" in play
        or ("hosts" in play and bool({"tasks", "roles", "pre_tasks", "post_tasks",
                                      "handlers", "gather_facts", "become", "vars"} & set(play)))
        for play in plays
    )


def detect_iac(files: RepoFiles) -> IacInventory:
    """Every kind of infrastructure as code in the repository, with its files."""
    inventory = IacInventory()
    for path in _own(files.glob("**/*.tf", "**/*.tf.json", "**/*.tofu", "**/*.tofu.json")):
        inventory.add(TERRAFORM, path)
    for path in dockerfiles(files):
        inventory.add(DOCKERFILE, path)
    charts = helm_charts(files)
    for path in charts:
        inventory.add(HELM, path)
    for path in _serverless_services(files, inventory):
        inventory.add(SERVERLESS, path)
    for path in _cdk_apps(files, inventory):
        inventory.add(CDK, path)
    for path in _own(files.glob("**/Pulumi.yaml", "**/Pulumi.yml")):
        inventory.add(PULUMI, path)
    for path in _own(files.glob("**/kustomization.yaml", "**/kustomization.yml",
                                "**/Kustomization")):
        inventory.add(KUBERNETES, path)
    for path in _own(files.glob("**/roles/*/tasks/main.yml", "**/roles/*/tasks/main.yaml")):
        inventory.add(ANSIBLE, path)

    chart_folders = [posixpath.dirname(c) + "/" if "/" in c else "" for c in charts]
    ansible_roles = {p.rsplit("/tasks/", 1)[0] + "/" for p in inventory.kinds.get(ANSIBLE, [])}
    excluded = systems.ci_config_paths(files)
    # YAML first: JSON is rarely IaC and often bulky data.
    candidates = sorted(_candidates(files, excluded, chart_folders),
                        key=lambda p: (p.lower().endswith(".json"), p))
    if len(candidates) > MAX_READ_FILES:
        inventory.truncated = True
        candidates = candidates[:MAX_READ_FILES]
    parsed = 0
    for path in candidates:
        if any(path.startswith(role) for role in ansible_roles):
            continue
        try:
            text = files.read_text(path)
        except FileProblem as problem:
            inventory.problems.append(problem)
            continue
        cfn = _CFN_HINT.search(text) is not None
        k8s = _K8S_HINT.search(text) is not None and _KIND_HINT.search(text) is not None
        if path.lower().endswith(".json") and not cfn:
            k8s = '"apiVersion"' in text and '"kind"' in text
        ansible = _ANSIBLE_HINT.search(text) is not None
        if not (cfn or k8s or ansible):
            continue
        if parsed >= MAX_PARSED_FILES:
            inventory.truncated = True
            break
        parsed += 1
        try:
            documents = _documents(files, path)
        except FileProblem as problem:
            inventory.problems.append(problem)
            continue
        for document in documents:
            if cfn and isinstance(document, dict):
                template = _template(path, document)
                if template is not None:
                    inventory.add(SAM if template.sam else CLOUDFORMATION, path)
                    inventory.templates.append(template)
                    continue
            if k8s and _is_manifest(document):
                inventory.add(KUBERNETES, path)
            elif ansible and _is_playbook(document):
                inventory.add(ANSIBLE, path)
    inventory.kinds = inventory.ordered()
    return inventory


# --------------------------------------------------------------------------- linters

_ALL = frozenset(KINDS)
CHECKOV_KINDS = frozenset({TERRAFORM, CLOUDFORMATION, SAM, SERVERLESS, KUBERNETES, HELM,
                           DOCKERFILE, ANSIBLE})
TRIVY_KINDS = frozenset({TERRAFORM, CLOUDFORMATION, SAM, KUBERNETES, HELM, DOCKERFILE})
KICS_KINDS = frozenset({TERRAFORM, CLOUDFORMATION, SAM, SERVERLESS, KUBERNETES, HELM,
                        DOCKERFILE, ANSIBLE, PULUMI})
TERRASCAN_KINDS = frozenset({TERRAFORM, CLOUDFORMATION, KUBERNETES, HELM, DOCKERFILE})
GITLAB_IAC_SCANNING_KINDS = frozenset({TERRAFORM, CLOUDFORMATION, SAM, KUBERNETES, DOCKERFILE,
                                       ANSIBLE})
CFN_KINDS = frozenset({CLOUDFORMATION, SAM})

_CHECKOV_FRAMEWORKS: dict[str, frozenset[str]] = {
    "terraform": frozenset({TERRAFORM}), "terraform_plan": frozenset({TERRAFORM}),
    "terraform_json": frozenset({TERRAFORM}), "cloudformation": CFN_KINDS,
    "serverless": frozenset({SERVERLESS}), "kubernetes": frozenset({KUBERNETES}),
    "kustomize": frozenset({KUBERNETES}), "helm": frozenset({HELM}),
    "dockerfile": frozenset({DOCKERFILE}), "ansible": frozenset({ANSIBLE}), "all": CHECKOV_KINDS,
}

Narrow = Callable[[list[str], Mapping[str, str]], frozenset[str]]


@dataclass(frozen=True)
class Linter:
    """One way CI can lint IaC. A pattern per place it can show up; `narrow` reads the
    invocation's words (commands) or hints (actions) and says which kinds it covers."""

    name: str
    kinds: frozenset[str]
    command: str | None = None  # regex on the unwrapped command ("terraform fmt -check")
    hook: str | None = None  # regex on a pre-commit hook id
    action: str | None = None  # regex on an action / task / orb / pipe reference
    image: str | None = None  # regex on a container image name (no registry tag)
    include: str | None = None  # regex on a CI template / include
    narrow: Narrow | None = None


def _option_values(words: Sequence[str], *names: str) -> list[str]:
    values: list[str] = []
    for index, word in enumerate(words):
        for name in names:
            if word == name and index + 1 < len(words):
                values.extend(words[index + 1].split(","))
            elif word.startswith(name + "="):
                values.extend(word.split("=", 1)[1].split(","))
    return [v.strip().lower() for v in values if v.strip()]


def _checkov_narrow(words: list[str], hints: Mapping[str, str]) -> frozenset[str]:
    frameworks = _option_values(words, "--framework")
    skipped = _option_values(words, "--skip-framework")
    frameworks += [v.strip().lower() for v in hints.get("framework", "").split(",") if v.strip()]
    skipped += [v.strip().lower() for v in hints.get("skip_framework", "").split(",")
                if v.strip()]
    kinds: frozenset[str] = CHECKOV_KINDS
    if frameworks:
        kinds = frozenset().union(*(_CHECKOV_FRAMEWORKS.get(f, frozenset()) for f in frameworks))
    for name in skipped:
        kinds = kinds - _CHECKOV_FRAMEWORKS.get(name, frozenset())
    return kinds


def _trivy_narrow(words: list[str], hints: Mapping[str, str]) -> frozenset[str]:
    if words:  # a command line: `trivy config` or a filesystem scan with misconfig
        if any(w in ("config", "conf") for w in words[1:]):
            return TRIVY_KINDS
        sub = next((w for w in words[1:] if not w.startswith("-")), "")
        scanners = _option_values(words, "--scanners", "--security-checks")
        if sub in ("fs", "filesystem", "repo", "repository") and (
                "misconfig" in scanners or "config" in scanners):
            return TRIVY_KINDS
        return frozenset()
    scan_type = hints.get("scan-type", "image").lower()
    wanted = hints.get("scanners", hints.get("security-checks", "")).lower()
    if scan_type == "config" or (scan_type in ("fs", "repo", "filesystem", "repository")
                                 and ("misconfig" in wanted or "config" in wanted)):
        return TRIVY_KINDS
    return frozenset()


_SUPER_LINTER: dict[str, tuple[str, ...]] = {
    TERRAFORM: ("TERRAFORM_FMT", "TERRAFORM_TFLINT", "TERRAFORM_TERRASCAN", "TERRAGRUNT",
                "CHECKOV"),
    CLOUDFORMATION: ("CLOUDFORMATION", "CHECKOV"),
    SAM: ("CLOUDFORMATION", "CHECKOV"),
    SERVERLESS: ("CHECKOV",),
    KUBERNETES: ("KUBERNETES_KUBECONFORM", "CHECKOV"),
    DOCKERFILE: ("DOCKERFILE_HADOLINT", "CHECKOV"),
    ANSIBLE: ("ANSIBLE", "CHECKOV"),
}


def _super_linter_narrow(words: list[str], hints: Mapping[str, str]) -> frozenset[str]:
    """super-linter validates everything unless VALIDATE_X=true picks some (then only
    those) or VALIDATE_X=false drops some."""
    switches = {k[9:]: v.lower() for k, v in hints.items()
                if k.startswith("VALIDATE_") and k != "VALIDATE_ALL_CODEBASE"}
    chosen = {name for name, value in switches.items() if value == "true"}
    dropped = {name for name, value in switches.items() if value == "false"}
    covered = set()
    for kind, validators in _SUPER_LINTER.items():
        enabled = [v for v in validators if (v in chosen if chosen else v not in dropped)]
        if enabled:
            covered.add(kind)
    return frozenset(covered)


_REPOSITORY_SCANNERS = ("REPOSITORY_CHECKOV", "REPOSITORY_KICS", "REPOSITORY_TRIVY")
_MEGALINTER: dict[str, tuple[str, ...]] = {
    TERRAFORM: ("TERRAFORM_TFLINT", "TERRAFORM_TERRASCAN", "TERRAFORM_TERRAGRUNT",
                "TERRAFORM_TERRAFORM_FMT", *_REPOSITORY_SCANNERS),
    CLOUDFORMATION: ("CLOUDFORMATION_CFN_LINT", *_REPOSITORY_SCANNERS),
    SAM: ("CLOUDFORMATION_CFN_LINT", *_REPOSITORY_SCANNERS),
    SERVERLESS: ("REPOSITORY_CHECKOV", "REPOSITORY_KICS"),
    KUBERNETES: ("KUBERNETES_KUBECONFORM", "KUBERNETES_KUBEVAL", "KUBERNETES_KUBESCAPE",
                 *_REPOSITORY_SCANNERS),
    HELM: ("KUBERNETES_HELM",),
    DOCKERFILE: ("DOCKERFILE_HADOLINT", "DOCKERFILE_DOCKERFILELINT", *_REPOSITORY_SCANNERS),
    ANSIBLE: ("ANSIBLE_ANSIBLE_LINT", "REPOSITORY_CHECKOV", "REPOSITORY_KICS"),
}
# What flavors embed, as far as their documentation shows (megalinter.io/flavors/...);
# another flavor counts for nothing here rather than for a guess.
_MEGALINTER_FLAVORS: dict[str, Callable[[str], bool]] = {
    "all": lambda name: True,
    "cupcake": lambda name: True,
    "terraform": lambda name: name.startswith(("TERRAFORM_", "DOCKERFILE_", "ANSIBLE_")),
    "ci_light": lambda name: name == "DOCKERFILE_HADOLINT",
    "security": lambda name: name.startswith("REPOSITORY_"),
}


def _no_flavor(name: str) -> bool:
    return False


def _megalinter_narrow(words: list[str], hints: Mapping[str, str]) -> frozenset[str]:
    reference = hints.get("__reference__", "").lower()
    match = re.search(r"megalinter(?:/flavors/|-)([a-z_]+)", reference)
    flavor = match.group(1) if match else "all"
    in_flavor: Callable[[str], bool] = _MEGALINTER_FLAVORS.get(flavor, _no_flavor)

    def listed(key: str) -> set[str]:
        return {v.strip().upper() for v in re.split(r"[,\s]+", hints.get(key, "")) if v.strip()}

    enable, enable_linters = listed("ENABLE"), listed("ENABLE_LINTERS")
    disable, disable_linters = listed("DISABLE"), listed("DISABLE_LINTERS")

    def active(name: str) -> bool:
        descriptor = name.split("_", 1)[0]
        if (enable or enable_linters) and descriptor not in enable and name not in enable_linters:
            return False
        return in_flavor(name) and descriptor not in disable and name not in disable_linters

    return frozenset(kind for kind, names in _MEGALINTER.items() if any(map(active, names)))


def _pulumi_narrow(words: list[str], hints: Mapping[str, str]) -> frozenset[str]:
    """A `pulumi preview` command, or pulumi/actions with `command: preview`."""
    return _ALL if words or hints.get("command", "").lower() == "preview" else frozenset()


LINTERS: tuple[Linter, ...] = (
    # Terraform / OpenTofu
    Linter("terraform fmt -check", frozenset({TERRAFORM}),
           command=r"^(terraform|tofu|terragrunt)\b.*\bfmt\b.*\s--?check\b",
           hook=r"^(terraform|tofu)[_-]fmt$",
           action=r"^(dflook/(terraform|tofu)-fmt-check\b|circleci/terraform@\S*/fmt\b|"
                  r"terraform(taskv\d+|cli)@\S*.*\bcommand=fmt\b)",
           include=r"\b(template\s+(jobs/)?terraform(\.latest)?\.gitlab-ci\.yml|"
                   r"components/opentofu/(full-pipeline|fmt))\b"),
    Linter("terraform validate", frozenset({TERRAFORM}),
           command=r"^(terraform|tofu|terragrunt)\b.*\bvalidate\b",
           hook=r"^(terraform|tofu)[_-]validate$",
           action=r"^(dflook/(terraform|tofu)-validate\b|circleci/terraform@\S*/validate\b|"
                  r"terraform(taskv\d+|cli)@\S*.*\bcommand=validate\b)",
           include=r"components/opentofu/(validate-plan|validate)\b"),
    Linter("tflint", frozenset({TERRAFORM}), command=r"^tflint\b",
           hook=r"^((terraform|tofu)_)?tflint$",
           action=r"^(terraform-linters/setup-tflint|reviewdog/action-tflint)\b",
           image=r"(^|/)tflint$"),
    Linter("tfsec", frozenset({TERRAFORM}), command=r"^tfsec\b",
           hook=r"^((terraform|tofu)_)?tfsec$",
           action=r"^aquasecurity/tfsec-(action|pr-commenter-action|sarif-action)\b",
           image=r"(^|/)tfsec$"),
    Linter("terraform_trivy hook", frozenset({TERRAFORM}), hook=r"^(terraform|tofu)_trivy$"),
    Linter("terraform_checkov hook", frozenset({TERRAFORM}), hook=r"^(terraform|tofu)_checkov$"),
    # multi-kind scanners
    Linter("checkov", CHECKOV_KINDS, command=r"^checkov\b", hook=r"^checkov(_diff)?$",
           action=r"^bridgecrewio/checkov-action\b", image=r"(^|/)checkov$",
           narrow=_checkov_narrow),
    Linter("trivy config", TRIVY_KINDS, command=r"^trivy\b",
           action=r"^aquasecurity/trivy-action\b", narrow=_trivy_narrow),
    Linter("kics", KICS_KINDS, command=r"^kics\b.*\bscan\b",
           action=r"^checkmarx/kics-github-action\b", image=r"(^|/)kics$"),
    Linter("terrascan", TERRASCAN_KINDS, command=r"^terrascan\b.*\bscan\b", hook=r"^terrascan$",
           action=r"^(tenable|accurics)/terrascan-action\b", image=r"(^|/)terrascan$"),
    Linter("GitLab IaC scanning", GITLAB_IAC_SCANNING_KINDS,
           include=r"\bSAST-IaC(\.latest)?\.gitlab-ci\.yml\b"),
    Linter("super-linter", _ALL, action=r"^(github|super-linter)/super-linter\b",
           image=r"(^|/)super-linter$", narrow=_super_linter_narrow),
    Linter("megalinter", _ALL,
           action=r"^(oxsecurity/megalinter|megalinter/megalinter|nvuillam/mega-linter)\b",
           image=r"(^|/)megalinter(-[a-z_]+)?$", narrow=_megalinter_narrow),
    # CloudFormation / SAM
    Linter("cfn-lint", CFN_KINDS, command=r"^cfn[-_]lint\b", hook=r"^cfn[-_](python[-_])?lint$",
           action=r"^scottbrenner/cfn-lint-action\b", image=r"(^|/)cfn-?lint$"),
    Linter("cfn_nag", frozenset({CLOUDFORMATION}), command=r"^cfn_nag(_scan)?\b",
           hook=r"^cfn[-_]nag$", action=r"^stelligent/cfn[-_]nag\b", image=r"(^|/)cfn_nag$"),
    Linter("cfn-guard", CFN_KINDS, command=r"^cfn-guard\b.*\bvalidate\b",
           action=r"^aws-cloudformation/cloudformation-guard\b"),
    Linter("taskcat", CFN_KINDS, command=r"^taskcat\b.*\b(lint|test)\b"),
    Linter("aws cloudformation validate-template", CFN_KINDS,
           command=r"^aws\b.*\bcloudformation\s+validate-template\b"),
    Linter("sam validate", frozenset({SAM}), command=r"^sam\b.*\bvalidate\b"),
    # Serverless Framework, CDK, Pulumi
    Linter("serverless package / print", frozenset({SERVERLESS}),
           command=r"^(serverless|sls|osls)\b.*\b(package|print)\b"),
    Linter("cdk synth", frozenset({CDK}), command=r"^(cdk|aws-cdk|cdklocal)\b.*\bsynth(esize)?\b"),
    Linter("cdk-nag", frozenset({CDK}), command=r"\bcdk[-_]nag\b"),
    Linter("pulumi preview", frozenset({PULUMI}), command=r"^pulumi\b.*\bpreview\b",
           action=r"^pulumi/actions\b", narrow=_pulumi_narrow),
    # Kubernetes / Helm
    Linter("kubeconform", frozenset({KUBERNETES}), command=r"^kubeconform\b",
           hook=r"^kubeconform", image=r"(^|/)kubeconform$"),
    Linter("kubeval", frozenset({KUBERNETES}), command=r"^kubeval\b", hook=r"^kubeval",
           action=r"^instrumenta/kubeval-action\b", image=r"(^|/)kubeval$"),
    Linter("kube-linter", frozenset({KUBERNETES, HELM}), command=r"^kube-linter\b.*\blint\b",
           hook=r"^kube-linter", action=r"^stackrox/kube-linter-action\b",
           image=r"(^|/)kube-linter$"),
    Linter("kube-score", frozenset({KUBERNETES}), command=r"^kube-score\b.*\bscore\b",
           hook=r"^kube-score", image=r"(^|/)kube-score$"),
    Linter("kubectl --dry-run", frozenset({KUBERNETES}), command=r"^(kubectl|oc)\b.*--dry-run\b"),
    Linter("datree", frozenset({KUBERNETES, HELM}), command=r"^datree\b.*\btest\b"),
    Linter("polaris audit", frozenset({KUBERNETES, HELM}), command=r"^polaris\b.*\baudit\b"),
    Linter("helm lint", frozenset({HELM}), command=r"^helm\b.*\blint\b",
           hook=r"^(helmlint|helm[-_]lint)$"),
    Linter("ct lint", frozenset({HELM}), command=r"^ct\b.*\blint\b",
           action=r"^helm/chart-testing-action\b", image=r"(^|/)chart-testing$"),
    # Dockerfiles
    Linter("hadolint", frozenset({DOCKERFILE}), command=r"^hadolint\b",
           hook=r"^hadolint(-docker)?$",
           action=r"^(hadolint/hadolint-action|jbergstroem/hadolint-gh-action|"
                  r"reviewdog/action-hadolint|hadolint/hadolint@\S*/lint)\b",
           image=r"(^|/)hadolint$"),
    Linter("docker build --check", frozenset({DOCKERFILE}),
           command=r"^(docker|podman)\b.*\bbuild\b.*\s--check\b"),
    # Ansible
    Linter("ansible-lint", frozenset({ANSIBLE}), command=r"^ansible-lint\b",
           hook=r"^ansible-lint$", action=r"^ansible/ansible-lint(-action)?\b",
           image=r"(^|/)ansible-lint$"),
    Linter("ansible-playbook --syntax-check", frozenset({ANSIBLE}),
           command=r"^ansible-playbook\b.*--syntax-check\b"),
)
_INFO_ONLY = frozenset({"--version", "-v", "-V", "version", "--help", "-h", "help", "--init"})


@dataclass(frozen=True)
class LintEvidence:
    """An invocation that lints some kinds of IaC."""

    linter: str
    kinds: frozenset[str]
    invocation: Invocation


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern, re.IGNORECASE) if pattern else None


_COMPILED: list[tuple[Linter, dict[str, re.Pattern[str] | None]]] = [
    (linter, {"command": _compiled(linter.command), "hook": _compiled(linter.hook),
              "action": _compiled(linter.action), "image": _compiled(linter.image),
              "include": _compiled(linter.include)})
    for linter in LINTERS
]


def _evidence(linter: Linter, invocation: Invocation, words: list[str],
              hints: Mapping[str, str]) -> LintEvidence | None:
    kinds = linter.kinds
    if linter.narrow is not None:
        kinds = kinds & linter.narrow(words, hints)
    if not kinds:
        return None
    return LintEvidence(linter.name, kinds, invocation)


def _match_image(invocation: Invocation, image: str, hints: Mapping[str, str]
                 ) -> list[LintEvidence]:
    name = commands.image_name(image)
    found = []
    for linter, patterns in _COMPILED:
        pattern = patterns["image"]
        if pattern is not None and pattern.search(name):
            evidence = _evidence(linter, invocation, [], {**hints, "__reference__": name})
            if evidence:
                found.append(evidence)
    return found


def _match_command(invocation: Invocation, words: list[str]) -> list[LintEvidence]:
    if len(words) > 1 and set(words[1:]) <= _INFO_ONLY:
        return []  # `tflint --version`, `tflint --init`: installs or reports, lints nothing
    docker = commands.docker_run_image(words)
    if docker is not None:
        image, inner = docker
        found = _match_image(invocation, image, {})
        if inner:
            found += _match_command(invocation, commands.command_words(inner))
        return found
    line = " ".join(words)
    found = []
    for linter, patterns in _COMPILED:
        pattern = patterns["command"]
        if pattern is not None and pattern.search(line):
            evidence = _evidence(linter, invocation, words, {})
            if evidence:
                found.append(evidence)
    return found


_HELM_TEMPLATE_PIPE = re.compile(
    r"\bhelm\s+template\b.*\|\s*(kubeconform|kubeval|kube-linter|kube-score|checkov|"
    r"conftest|datree)\b")


def match_linters(invocation: Invocation) -> list[LintEvidence]:
    """The linters one invocation runs, with the kinds each covers."""
    found: list[LintEvidence] = []
    if invocation.kind in ("run", "make"):
        for _, words in commands.iter_commands([invocation]):
            found += _match_command(invocation, words)
        if _HELM_TEMPLATE_PIPE.search(invocation.text):
            found.append(LintEvidence("helm template | validator", frozenset({HELM}), invocation))
    elif invocation.kind == "hook":
        hook_id, _, entry = invocation.text.partition(": ")
        for linter, patterns in _COMPILED:
            pattern = patterns["hook"]
            if pattern is not None and pattern.search(hook_id.strip()):
                evidence = _evidence(linter, invocation, [], {})
                if evidence:
                    found.append(evidence)
        if entry:
            for _, words in commands.iter_commands([invocation]):
                found += _match_command(invocation, words)
    elif invocation.kind == "uses":
        reference, hints = commands.uses_hints(invocation.text)
        hints = {**hints, "__reference__": reference}
        if reference.lower().startswith("docker://"):
            return _match_image(invocation, reference, hints)
        target = invocation.text if " " in invocation.text else reference
        for linter, patterns in _COMPILED:
            pattern = patterns["action"]
            if pattern is not None and pattern.search(target):
                evidence = _evidence(linter, invocation, [], hints)
                if evidence:
                    found.append(evidence)
    elif invocation.kind == "image":
        found = _match_image(invocation, invocation.text, {})
    elif invocation.kind == "include":
        for linter, patterns in _COMPILED:
            pattern = patterns["include"]
            if pattern is not None and pattern.search(invocation.text):
                evidence = _evidence(linter, invocation, [], {})
                if evidence:
                    found.append(evidence)
    return found


def kind_of(name: str) -> str | None:
    """A kind id from an id or a label, case-insensitively ("Dockerfiles" -> dockerfile)."""
    lowered = name.strip().lower()
    for kind, text in KINDS.items():
        if lowered in (kind, text.lower(), text.lower().rstrip("s")):
            return kind
    return None


def lint_coverage(kinds: Iterable[str], invocations: Iterable[Invocation],
                  extra: Mapping[str, Sequence[str]] | None = None
                  ) -> dict[str, list[LintEvidence]]:
    """For each kind, the invocations that lint it (an empty list: nothing does).

    `extra` maps a kind (id or label) to more command substrings that count as linters
    (matched case-insensitively against any invocation's text)."""
    wanted = list(kinds)
    coverage: dict[str, list[LintEvidence]] = {kind: [] for kind in wanted}
    extras: dict[str, list[str]] = {}
    for name, needles in (extra or {}).items():
        kind = kind_of(name)
        if kind is not None:
            extras.setdefault(kind, []).extend(str(n).lower() for n in needles if str(n).strip())
    for invocation in invocations:
        for evidence in match_linters(invocation):
            for kind in evidence.kinds:
                if kind in coverage:
                    coverage[kind].append(evidence)
        lowered = invocation.text.lower()
        for kind, needles in extras.items():
            if kind in coverage:
                for needle in needles:
                    if needle in lowered:
                        coverage[kind].append(
                            LintEvidence(f"extra linter {needle!r}", frozenset({kind}), invocation))
    return coverage


# --------------------------------------------------------------------------- serverless


@dataclass(frozen=True)
class Bundle:
    """A codified configuration that declares and packages serverless functions."""

    kind: str  # "AWS SAM template", "Serverless Framework service", "AWS CDK app", ...
    path: str
    line: int | None = None
    functions: int | None = None  # declared functions, when they can be counted
    children: tuple[str, ...] = ()  # bundles it deploys (nested templates, compose services)


@dataclass(frozen=True)
class Handler:
    """Function code found outside any declaration: a handler file, an Azure function.json."""

    path: str
    line: int | None
    reason: str


@dataclass
class ServerlessInventory:
    bundles: list[Bundle] = field(default_factory=list)
    handlers: list[Handler] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)

    @property
    def top_level(self) -> list[Bundle]:
        """Bundles not deployed as part of another bundle."""
        children = {child for bundle in self.bundles for child in bundle.children}
        return [bundle for bundle in self.bundles if bundle.path not in children]

    @property
    def any(self) -> bool:
        """Serverless code exists: a bundle declaring functions, or handler code."""
        return bool(self.bundles or self.handlers)


MAX_HANDLER_FILES = 400
_CODE_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".go", ".java", ".cs", ".rb")
_HANDLER_FOLDERS = frozenset({"lambda", "lambdas", "functions", "lambda_functions",
                              "lambda-functions", "handlers", "serverless"})
_HANDLER_NAMES = frozenset({"lambda_function.py", "lambda_handler.py", "handler.py",
                            "handler.js", "handler.mjs", "handler.ts", "handlers.py"})
_HANDLER_SIGNATURES = re.compile(
    r"def\s+\w*handler\s*\(\s*event\s*,\s*context\b"  # Python Lambda
    r"|def\s+(?:self\.)?\w*handler\s*\(\s*event:\s*,\s*context:"  # Ruby Lambda
    r"|exports\.\w*handler\s*=|module\.exports\.\w*handler\s*="  # CommonJS
    r"|export\s+(?:const|let|async\s+function|function)\s+\w*handler\b"  # ES modules
    r"|\blambda\.Start\(|implements\s+RequestHandler<|\bILambdaContext\b"  # Go, Java, C#
    r"|@app\.route\(\s*route\s*=|@app\.function_name\("  # Azure Functions (Python v2)
    r"|@app\.(?:timer|queue|blob|event_hub|service_bus_queue|cosmos_db)_trigger\("
    r"|\bapp\.(?:http|timer|storageQueue)\(\s*['\"]"  # Azure Functions (node v4)
    r"|functions_framework\.http|functions\.(?:http|cloudEvent)\(",  # Google Cloud Functions
    re.IGNORECASE,
)
_CDK_LAMBDA = re.compile(
    r"aws-cdk-lib/aws-lambda|@aws-cdk/aws-lambda|aws_cdk\.aws_lambda|aws_cdk\s+import\s+[^\n]*"
    r"aws_lambda|awscdk/v2/awslambda|software\.amazon\.awscdk\.services\.lambda|"
    r"Amazon\.CDK\.AWS\.Lambda|\b(NodejsFunction|PythonFunction|GoFunction)\b")
_TF_FUNCTION = re.compile(
    r"resource\s+\"(aws_lambda_function|google_cloudfunctions2?_function|"
    r"azurerm_(?:linux_|windows_)?function_app)\"|"
    r"source\s*=\s*\"terraform-aws-modules/lambda/aws")
_TF_LOCAL_MODULE = re.compile(r"source\s*=\s*\"(\.\.?/[^\"]+)\"")


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _json(files: RepoFiles, path: str, problems: list[FileProblem]) -> Any:
    try:
        return json.loads(files.read_text(path))
    except FileProblem as problem:
        problems.append(problem)
    except ValueError as error:
        problems.append(FileProblem(path, f"invalid JSON: {error}"))
    return None


def _serverless_functions(files: RepoFiles, path: str, problems: list[FileProblem]
                          ) -> tuple[bool, int | None, int | None]:
    """(declares functions, how many, line of `functions:`) of a Serverless Framework file."""
    try:
        if path.lower().endswith((".yml", ".yaml")):
            document = files.yaml(path)
        elif path.lower().endswith(".json"):
            document = _json(files, path, problems)
        else:
            text = files.read_text(path)
            match = re.search(r"\bfunctions\s*[:=]", text)
            return match is not None, None, _line_at(text, match.start()) if match else None
    except FileProblem as problem:
        problems.append(problem)
        return False, None, None
    if not isinstance(document, dict) or "functions" not in document:
        return False, None, None
    functions = document["functions"]
    count = len(functions) if isinstance(functions, (dict, list)) else None
    return bool(functions), count, line_of(document, "functions")


def _compose_services(files: RepoFiles, path: str, problems: list[FileProblem]) -> list[str]:
    try:
        document = files.yaml(path) if path.lower().endswith((".yml", ".yaml")) else None
    except FileProblem as problem:
        problems.append(problem)
        return []
    services = document.get("services") if isinstance(document, dict) else None
    children = []
    if isinstance(services, dict):
        for service in services.values():
            folder = service.get("path") if isinstance(service, dict) else None
            if isinstance(folder, str):
                base = posixpath.normpath(posixpath.join(posixpath.dirname(path), folder))
                for name in ("serverless.yml", "serverless.yaml", "serverless.ts",
                             "serverless.js", "serverless.json"):
                    found = files.find(posixpath.join(base, name) if base != "." else name)
                    if found:
                        children.append(found)
    return children


def _cdk_priority(path: str) -> tuple[int, str]:
    """Where CDK apps define stacks first, so the bound on files read rarely matters."""
    lowered = path.lower()
    parts = set(lowered.split("/")[:-1])
    likely = bool(parts & {"bin", "lib", "stacks", "infra", "cdk", "constructs"}) or any(
        word in lowered.rsplit("/", 1)[-1] for word in ("stack", "construct", "app."))
    return (0 if likely else 1, path)


def _cdk_bundles(files: RepoFiles, apps: Iterable[str], problems: list[FileProblem]
                 ) -> list[Bundle]:
    bundles = []
    for app in apps:
        folder = posixpath.dirname(app)
        pattern = f"{folder}/**/*" if folder else "**/*"
        sources = [p for p in files.glob(*(pattern + s for s in _CODE_SUFFIXES))
                   if not _skipped(p) and not p.endswith(".d.ts")]
        sources.sort(key=_cdk_priority)
        for source in sources[:MAX_HANDLER_FILES]:
            try:
                text = files.read_text(source)
            except FileProblem as problem:
                problems.append(problem)
                continue
            if _CDK_LAMBDA.search(text):
                bundles.append(Bundle("AWS CDK app", app))
                break
    return bundles


def _terraform_bundles(files: RepoFiles, problems: list[FileProblem]) -> list[Bundle]:
    """Terraform folders declaring functions, and the folders calling them as modules."""
    functions: dict[str, tuple[int, int]] = {}  # folder -> (count, line in first file)
    first_file: dict[str, str] = {}
    modules: dict[str, set[str]] = {}
    for path in _own(files.glob("**/*.tf", "**/*.tofu")):
        try:
            text = files.read_text(path)
        except FileProblem as problem:
            problems.append(problem)
            continue
        folder = posixpath.dirname(path) or "."
        first_file.setdefault(folder, path)
        matches = list(_TF_FUNCTION.finditer(text))
        if matches:
            if folder not in functions:
                first_file[folder] = path
                functions[folder] = (0, _line_at(text, matches[0].start()))
            count, line = functions[folder]
            functions[folder] = (count + len(matches), line)
        for match in _TF_LOCAL_MODULE.finditer(text):
            target = posixpath.normpath(posixpath.join(folder, match.group(1)))
            modules.setdefault(folder, set()).add(target)
    reaching = set(functions)
    changed = bool(reaching)
    while changed:
        changed = False
        for folder, targets in modules.items():
            if folder not in reaching and targets & reaching:
                reaching.add(folder)
                changed = True
    bundles = []
    for folder in sorted(reaching):
        count, line = functions.get(folder, (0, 0))
        children = tuple(first_file[t] for t in sorted(modules.get(folder, set()) & reaching))
        bundles.append(Bundle("Terraform configuration", first_file[folder], line or None,
                              count or None, children))
    return bundles


def _handler_files(files: RepoFiles, problems: list[FileProblem]) -> list[Handler]:
    handlers = []
    candidates = []
    for path in files.glob(*("**/*" + s for s in _CODE_SUFFIXES)):
        if _skipped(path) or path.endswith(".d.ts"):
            continue
        parts = path.lower().split("/")
        if set(parts[:-1]) & _HANDLER_FOLDERS or parts[-1] in _HANDLER_NAMES:
            candidates.append(path)
    for path in candidates[:MAX_HANDLER_FILES]:
        if "test" in path.lower().split("/")[-1] or "/tests/" in f"/{path.lower()}":
            continue
        try:
            text = files.read_text(path)
        except FileProblem as problem:
            problems.append(problem)
            continue
        match = _HANDLER_SIGNATURES.search(text)
        if match:
            handlers.append(Handler(path, _line_at(text, match.start()),
                                    f"function handler `{match.group(0).strip()}`"))
    return handlers


def _functions_framework(files: RepoFiles, problems: list[FileProblem]) -> list[Handler]:
    found = []
    for path in _own(files.glob("**/package.json")):
        document = _json(files, path, problems)
        if not isinstance(document, dict):
            continue
        dependencies = {**(document.get("dependencies") or {}),
                        **(document.get("devDependencies") or {})}
        if "@google-cloud/functions-framework" in dependencies:
            found.append(Handler(path, None, "depends on @google-cloud/functions-framework"))
    for path in _own(files.glob("**/requirements*.txt")):
        try:
            text = files.read_text(path)
        except FileProblem as problem:
            problems.append(problem)
            continue
        match = re.search(r"^functions-framework\b", text, re.MULTILINE | re.IGNORECASE)
        if match:
            found.append(Handler(path, _line_at(text, match.start()),
                                 "depends on functions-framework (Google Cloud Functions)"))
    return found


def serverless_inventory(files: RepoFiles, inventory: IacInventory | None = None
                         ) -> ServerlessInventory:
    """Serverless functions in the repository and the configurations that bundle them.

    Bundles: SAM / CloudFormation templates declaring functions, Serverless Framework
    services with `functions:` (a serverless-compose file bundles the services it lists),
    CDK apps with Lambda constructs, Terraform configurations with function resources,
    Azure Functions apps (host.json), Firebase (`functions` in firebase.json), Netlify
    (netlify.toml with a functions folder) and Vercel (vercel.json). Handlers: function
    code found by its signature in handler-like folders and files, Azure function.json
    files outside any app, Google functions-framework dependencies.
    """
    iac = inventory if inventory is not None else detect_iac(files)
    result = ServerlessInventory(problems=list(iac.problems))
    problems = result.problems
    for template in iac.templates:
        if template.functions or template.nested:
            first = template.functions[0][2] if template.functions else None
            result.bundles.append(Bundle(
                "AWS SAM template" if template.sam else "CloudFormation template",
                template.path, first, len(template.functions), template.nested))
    for path in iac.kinds.get(SERVERLESS, []):
        declares, count, line = _serverless_functions(files, path, problems)
        if declares:
            result.bundles.append(Bundle("Serverless Framework service", path, line, count))
    service_paths = {b.path for b in result.bundles}
    for path in _own(files.glob("**/serverless-compose.yml", "**/serverless-compose.yaml",
                                "**/serverless-compose.ts", "**/serverless-compose.js",
                                "**/serverless-compose.json")):
        children = tuple(c for c in _compose_services(files, path, problems)
                         if c in service_paths)
        result.bundles.append(Bundle("Serverless Compose", path, None, None, children))
    result.bundles += _cdk_bundles(files, iac.kinds.get(CDK, []), problems)
    result.bundles += _terraform_bundles(files, problems)

    app_folders: list[str] = []
    for path in _own(files.glob("**/host.json")):
        document = _json(files, path, problems)
        folder = posixpath.dirname(path)
        prefix = f"{folder}/" if folder else ""
        function_files = [p for p in files.glob(f"{prefix}*/function.json")]
        is_app = isinstance(document, dict) and "version" in document and (
            "extensionBundle" in document or function_files
            or files.exists(f"{prefix}function_app.py"))
        if is_app:
            app_folders.append(prefix)
            result.bundles.append(Bundle("Azure Functions app", path, None,
                                         len(function_files) or None))
    for path in _own(files.glob("**/function.json")):
        if not any(path.startswith(folder) for folder in app_folders):
            result.handlers.append(Handler(path, None, "Azure function.json outside a "
                                                       "Functions app (no host.json)"))
    for path in _own(files.glob("**/firebase.json")):
        document = _json(files, path, problems)
        if isinstance(document, dict) and document.get("functions"):
            result.bundles.append(Bundle("Firebase functions", path))
    netlify_functions = _own(files.glob("netlify/functions/**/*", "**/netlify/functions/**/*"))
    netlify_toml = _own(files.glob("**/netlify.toml"))
    if netlify_functions and netlify_toml:
        result.bundles.append(Bundle("Netlify functions", netlify_toml[0]))
    elif netlify_functions:
        result.handlers.append(Handler(netlify_functions[0], None,
                                       "Netlify functions folder without netlify.toml"))
    for path in _own(files.glob("**/vercel.json")):
        document = _json(files, path, problems)
        folder = posixpath.dirname(path)
        api = f"{folder}/api" if folder else "api"
        if isinstance(document, dict) and (document.get("functions") or any(
                True for _ in files.under(api))):
            result.bundles.append(Bundle("Vercel functions", path))

    covered = list(app_folders)  # handler code inside a bundle's conventional folder
    if netlify_toml:
        covered += [p.split("netlify/functions/")[0] + "netlify/functions/"
                    for p in netlify_functions]
    covered += [(posixpath.dirname(b.path) + "/" if "/" in b.path else "") + "api/"
                for b in result.bundles if b.kind == "Vercel functions"]
    for handler in _handler_files(files, problems) + _functions_framework(files, problems):
        if not any(handler.path.startswith(prefix) for prefix in covered if prefix):
            result.handlers.append(handler)
    _drop_empty_parents(result)
    return result


def _drop_empty_parents(result: ServerlessInventory) -> None:
    """Templates that declare no function count only when they nest one that does."""
    while True:
        useful = {b.path for b in result.bundles if b.functions != 0}
        dropped = [b for b in result.bundles
                   if b.functions == 0 and not set(b.children) & useful]
        if not dropped:
            return
        result.bundles = [b for b in result.bundles if b not in dropped]
