"""report.html: org summary, repository x policy matrix, every finding with remediation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from governance import resources
from governance.render.tabular import compliance, summary


def write_html(frame: pd.DataFrame, meta: Mapping[str, object], path: Path) -> Path:
    env = Environment(
        loader=FileSystemLoader(str(resources.templates_folder())),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    per_policy = [
        {"policy": policy, "compliance": compliance(group),
         "counts": group["outcome"].value_counts().to_dict()}
        for policy, group in frame.groupby("policy", sort=True)
    ]
    matrix = frame.pivot_table(index="repository", columns="policy", values="outcome",
                               aggfunc="first")
    html = env.get_template("report.html.j2").render(
        meta=meta, summary=summary(frame), per_policy=per_policy,
        matrix=matrix, findings=frame.to_dict(orient="records"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
