"""findings.sarif: the scan as one SARIF 2.1.0 run, for GitHub code scanning and other viewers.

docs/report-formats.md documents the mapping; in short:

- one run per scan; `tool.driver` is governance with one rule per enabled policy (title,
  rationale, remediation as help, default level from the policy's severity);
- a `fail` finding is a result (level from its severity) located at its first location,
  further locations as `relatedLocations`; a finding without a file is located at the
  repository root (`.`), because GitHub rejects results without a physical location;
- an `error` finding is not a result but an error-level `toolExecutionNotification` of the
  run's invocation (SARIF's way of saying "these results may be incomplete"), so a check
  that crashed never opens a code-scanning alert;
- pass, waived, not applicable and not available produce nothing;
- `partialFingerprints["governance/v1"]` hashes repository and policy: the alert for a
  policy stays the same alert while the file or line it points at moves.

Paths are repository-relative URI references (percent-encoded) against `%SRCROOT%`; the
repository's full name is in each result's `properties.repository`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from governance.render.summary import PolicyInfo, policies_of, severity_rank
from governance.render.tabular import finding_records

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "governance"
INFORMATION_URI = "https://pypi.org/project/governance/"
FINGERPRINT_KEY = "governance/v1"
SRCROOT = "%SRCROOT%"
ROOT_URI = "."  # a repository-level finding: the repository root
ERROR_DESCRIPTOR = "governance/check-error"

# severity -> SARIF level (what a viewer shows) and GitHub's security-severity score
# (critical >= 9.0, high 7.0-8.9, medium 4.0-6.9, low 0.1-3.9), used for security policies.
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note",
          "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
SECURITY_TAGS = frozenset({"security", "supply-chain"})
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def level_of(severity: object) -> str:
    return LEVELS.get(str(severity), "warning")


def artifact_uri(path: str) -> str:
    """A repository-relative path as a URI reference: `/`-separated, percent-encoded.

    Undecodable bytes (kept as surrogate escapes by the scan) are encoded as the bytes they
    were. A leading `/` is dropped so the URI stays relative to %SRCROOT%.
    """
    raw = path.replace("\\", "/").lstrip("/").encode("utf-8", "surrogateescape")
    return quote(raw, safe="/") or ROOT_URI


def fingerprint(repository: str, policy: str) -> str:
    digest = hashlib.sha256(f"{repository}\0{policy}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:32]


def _rule_name(policy_id: str) -> str:
    """SARIF rule names are identifiers in Pascal case: `actions-pinned` -> ActionsPinned."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", policy_id)
                   if part) or "Policy"


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _meta_policies(meta: Mapping[str, object]) -> dict[str, Mapping[str, Any]]:
    listed = meta.get("policies")
    found: dict[str, Mapping[str, Any]] = {}
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, Mapping) and entry.get("id"):
                found.setdefault(str(entry["id"]), entry)
    return found


def _strings(value: object) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, str) and v]
    return []


def _rule(info: PolicyInfo, extra: Mapping[str, Any]) -> dict[str, Any]:
    severity = info.severity or "info"
    references = [r for r in _strings(extra.get("references")) if r.startswith("https://")]
    tags = _strings(extra.get("tags"))
    security = bool(SECURITY_TAGS.intersection(tags))
    markdown = [f"**{info.title}** (`{info.id}`, severity {severity})"]
    if info.rationale:
        markdown.append(f"**Why:** {_text(info.rationale)}")
    if info.remediation:
        markdown.append(f"**How to fix:** {_text(info.remediation)}")
    if references:
        markdown.append("**References:**\n\n" + "\n".join(f"- <{r}>" for r in references))
    properties: dict[str, Any] = {
        "tags": sorted({"governance", *tags, *(["security"] if security else [])}),
        "precision": "high",
    }
    if security and severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    rule: dict[str, Any] = {
        "id": info.id,
        "name": _rule_name(info.id),
        "shortDescription": {"text": _text(info.title) or info.id},
        "fullDescription": {"text": _text(info.rationale) or _text(info.title) or info.id},
        "help": {"text": _text(info.remediation) or _text(info.title) or info.id,
                 "markdown": "\n\n".join(markdown)},
        "defaultConfiguration": {"level": level_of(severity)},
        "properties": properties,
    }
    if references:
        rule["helpUri"] = references[0]
    return rule


def _physical(path: object, line: object) -> dict[str, Any]:
    if isinstance(path, str) and path:
        location: dict[str, Any] = {
            "artifactLocation": {"uri": artifact_uri(path), "uriBaseId": SRCROOT}}
        if isinstance(line, int) and not isinstance(line, bool) and line >= 1:
            location["region"] = {"startLine": line}
        return location
    return {"artifactLocation": {"uri": ROOT_URI, "uriBaseId": SRCROOT,
                                 "description": {"text": "the repository root"}}}


def _locations(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for entry in record.get("locations") or ():
        if isinstance(entry, Mapping) and entry.get("path"):
            location: dict[str, Any] = {"physicalLocation": _physical(entry["path"],
                                                                      entry.get("line"))}
            if entry.get("note"):
                location["message"] = {"text": str(entry["note"])}
            found.append(location)
    if not found and record.get("path"):
        found.append({"physicalLocation": _physical(record["path"], record.get("line"))})
    if not found:
        found.append({"physicalLocation": _physical(None, None)})
    return found


def _utc(value: object) -> str | None:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_sarif(frame: pd.DataFrame, meta: Mapping[str, object]) -> dict[str, Any]:
    """The SARIF log (a dict) for a frame of findings and the scan's meta."""
    extras = _meta_policies(meta)
    infos = policies_of(frame, meta)
    rules = [_rule(info, extras.get(info.id, {})) for info in infos]
    index = {info.id: n for n, info in enumerate(infos)}
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for record in finding_records(frame):
        outcome = record.get("outcome")
        if outcome not in ("fail", "error"):
            continue
        policy, repository = str(record.get("policy") or ""), str(record.get("repository") or "")
        message = str(record.get("message") or "") or f"{policy} {outcome}"
        locations = _locations(record)
        properties: dict[str, Any] = {"repository": repository}
        if outcome == "error":
            notifications.append({
                "level": "error",
                "message": {"text": f"{repository}: {policy} could not be evaluated: {message}"},
                "descriptor": {"id": ERROR_DESCRIPTOR},
                "associatedRule": {"id": policy, "index": index[policy]}
                if policy in index else {"id": policy},
                "locations": locations[:1],
                "properties": properties,
            })
            continue
        severity = str(record.get("severity") or "")
        properties.update(severity=severity, confidence=str(record.get("confidence") or "high"))
        result: dict[str, Any] = {
            "ruleId": policy,
            "kind": "fail",
            "level": level_of(severity),
            "message": {"text": message},
            "locations": locations[:1],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint(repository, policy)},
            "properties": properties,
        }
        if policy in index:
            result["ruleIndex"] = index[policy]
        if len(locations) > 1:
            result["relatedLocations"] = [
                {"id": n, **location} for n, location in enumerate(locations[1:], start=1)]
        results.append(result)
    results.sort(key=lambda r: (-severity_rank(r["properties"]["severity"]),
                                r["properties"]["repository"], r["ruleId"]))

    invocation: dict[str, Any] = {"executionSuccessful": True}
    for key, name in (("started", "startTimeUtc"), ("finished", "endTimeUtc")):
        when = _utc(meta.get(key))
        if when:
            invocation[name] = when
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    version = str(meta.get("tool_version") or "") or _own_version()
    driver: dict[str, Any] = {"name": TOOL_NAME, "version": version,
                              "informationUri": INFORMATION_URI, "rules": rules}
    if _SEMVER.match(version):
        driver["semanticVersion"] = version
    run_properties: dict[str, Any] = {
        key: meta[key] for key in ("source", "pack", "repositories", "partial")
        if key in meta and isinstance(meta[key], (str, int, bool))
    }
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"{TOOL_NAME}/"},
        "invocations": [invocation],
        "results": results,
        "properties": run_properties,
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _own_version() -> str:
    from governance import __version__

    return __version__


def write_sarif(frame: pd.DataFrame, meta: Mapping[str, object], path: Path) -> Path:
    document = build_sarif(frame, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, default=str)  # ASCII: surrogates stay escaped
        out.write("\n")
    return path

