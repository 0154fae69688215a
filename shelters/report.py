"""The import report people read, in their language (ja, en, やさしい日本語): what the
file held, problems summarised by kind with their lines, the columns not used, and
what the import changes (or, with ``--check``, would change). Pure: text lines out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from kawamori.texts import say
from shelters.errors import Problem
from shelters.opendata import Parsed
from shelters.registry import Plan

MAX_LINES_PER_KIND = 12
MAX_DETAILS = 40
MAX_NAMED = 30


def _by_kind(problems: Iterable[Problem], lang: str) -> list[str]:
    lines: dict[str, list[int]] = defaultdict(list)
    for p in problems:
        lines[p.code].append(p.line)
    out = []
    for code, where in sorted(lines.items(), key=lambda item: (-len(item[1]), min(item[1]), item[0])):
        shown = ", ".join(str(n) for n in sorted(set(where))[:MAX_LINES_PER_KIND] if n)
        if len(set(where)) > MAX_LINES_PER_KIND:
            shown += ", " + say("shelters.report.more_lines", lang)
        out.append(
            say(
                "shelters.report.kind_line",
                lang,
                kind=say(f"shelters.kinds.{code}", lang),
                count=len(where),
                lines=shown or "-",
            )
        )
    return out


def summary(parsed: Parsed, source: str, lang: str, *, show_all: bool = False) -> list[str]:
    """What the file holds and every problem, summarised by kind, then in detail."""
    out = [
        say("shelters.report.head", lang, source=source, rows=parsed.rows, encoding=parsed.encoding),
        say("shelters.report.imported", lang, count=len(parsed.records)),
    ]
    skipped = {p.line for p in parsed.errors}
    warned = {p.line for p in parsed.warnings if p.line and p.line not in skipped}
    if skipped:
        out.append(say("shelters.report.skipped", lang, count=len(skipped)))
    if warned:
        out.append(say("shelters.report.warned", lang, count=len(warned)))
    if parsed.errors:
        out += [say("shelters.report.errors_by_kind", lang), *_by_kind(parsed.errors, lang)]
    if parsed.warnings:
        out += [say("shelters.report.warnings_by_kind", lang), *_by_kind(parsed.warnings, lang)]
    temporary = sum(r.temporary for r in parsed.records)
    if temporary:
        out.append(say("shelters.report.temporary", lang, count=temporary))
    bases = Counter(r.crowding_capacity[1] for r in parsed.records)
    out.append(
        say(
            "shelters.report.capacity_basis",
            lang,
            **{b: bases.get(b, 0) for b in ("indoor", "site", "stated", "unknown")},
        )
    )
    if parsed.snapshots:
        columns = ", ".join(sorted({s.column for s in parsed.snapshots}))
        out.append(say("shelters.report.snapshots", lang, count=len(parsed.snapshots), columns=columns))
    out.append(
        say(
            "shelters.report.ignored",
            lang,
            columns=", ".join(parsed.ignored_columns) or say("shelters.report.none", lang),
        )
    )
    if parsed.problems:
        out.append(say("shelters.report.details", lang))
        limit = len(parsed.problems) if show_all else MAX_DETAILS
        out += [f"  {p.render(lang, unit=parsed.unit)}" for p in parsed.problems[:limit]]
        if len(parsed.problems) > limit:
            out.append(say("shelters.report.more_details", lang, count=len(parsed.problems) - limit))
    return out


def changes(plan: Plan, lang: str, *, preview: bool, show_all: bool = False) -> list[str]:
    """What the import changes: counts, then the shelters added, changed and not in the file."""
    out = [
        say("shelters.report.preview" if preview else "shelters.report.done", lang),
        say(
            "shelters.report.plan",
            lang,
            added=len(plan.added),
            changed=len(plan.changed),
            unchanged=len(plan.unchanged),
            removed=len(plan.removed),
        ),
    ]
    limit = None if show_all else MAX_NAMED
    named = [
        *(say("shelters.report.added_line", lang, id=r["id"], name=r["name_ja"]) for r in plan.added),
        *(
            say("shelters.report.changed_line", lang, id=r["id"], name=r["name_ja"], fields=", ".join(f))
            for r, f in plan.changed
        ),
        *(say("shelters.report.removed_line", lang, id=r["id"], name=r["name_ja"]) for r in plan.removed),
    ]
    out += named[:limit]
    if limit is not None and len(named) > limit:
        out.append(say("shelters.report.more_details", lang, count=len(named) - limit))
    return out
