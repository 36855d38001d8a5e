"""Reports: the summary tables and the markdown table of every case."""

from __future__ import annotations

from collections import Counter

from .cases import CLASSES

# --------------------------------------------------------------------------- reports


def summary_tables(records: list[dict]) -> str:
    by_class = Counter(r["outcome"] for r in records)
    lines = ["| class | cases |", "|---|---|"]
    lines += [f"| {c} | {by_class.get(c, 0)} |" for c in CLASSES]
    lines.append(f"| **total** | **{len(records)}** |")
    targets = list(dict.fromkeys(r["target"] for r in records))
    shown = [c for c in CLASSES if any(r["outcome"] == c for r in records)]
    lines += ["", "| target | cases | " + " | ".join(shown) + " |", "|---|---|" + "---|" * len(shown)]
    for t in targets:
        rs = [r for r in records if r["target"] == t]
        counts = Counter(r["outcome"] for r in rs)
        lines.append(f"| {t} | {len(rs)} | " + " | ".join(str(counts.get(c, 0)) for c in shown) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(records: list[dict], meta: dict) -> str:
    out = [f"# Bad and hostile inputs: {len(records)} cases", "",
           f"`{meta['command']}`; {meta['wall_s']:.0f} s; Python {meta['python']}, numpy {meta['numpy']}.", "",
           summary_tables(records), "", "## Every case", "",
           "| id | target | description | call | expected | outcome | detail |", "|---|---|---|---|---|---|---|"]
    for r in records:
        out.append("| " + " | ".join(_cell(v) for v in (r["id"], r["target"], r["description"], f"`{r['call']}`",
                                                          r["expected"], r["outcome"], r["detail"])) + " |")
    return "\n".join(out) + "\n"
