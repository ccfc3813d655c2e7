"""`rules diff` as text for a terminal: per segment a transition matrix, per output how it moves."""
from __future__ import annotations

import math

from .diagnostics import display_width
from .diff import MASK, NONE_LABEL, Example, Impact, OutputImpact, RejectExample

def fmt_count(n: int) -> str:
    return f"{n:,}"


def fmt_number(x) -> str:
    """A number for a person: thousands separators, at most four decimals, at least one for non-integers."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if not math.isfinite(x):
        return str(x)
    if x != 0 and abs(x) < 0.001:
        return f"{x:.3g}"
    text = f"{x:,.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def fmt_change(a, b) -> str:
    """`a → b (+d, +p%)` for two numbers; just `a` when they are equal."""
    if a is None or b is None:
        return f"{fmt_number(a)} → {fmt_number(b)}"
    d = b - a
    if abs(d) <= 1e-12 * max(1.0, abs(a), abs(b)):
        return fmt_number(a)
    text = f"{fmt_number(a)} → {fmt_number(b)} ({'+' if d > 0 else '-'}{fmt_number(abs(d))}"
    return text + (f", {'+' if d > 0 else '-'}{abs(d) / abs(a):.1%})" if a else ")")


def fmt_value(value) -> str:
    """An output value or field value as text."""
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return fmt_number(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    return str(value)


def member_text(member: str | None, label: str | None) -> str:
    """`A 重要客户`, `A`, or `(none)`."""
    if member is None:
        return NONE_LABEL
    return f"{member} {label}" if label else member


def example_key(e: Example | RejectExample) -> str:
    return f"row {e.row}" if e.key is None else fmt_value(e.key)


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "-"


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    """Aligned columns; CJK characters count two columns (display_width)."""
    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = []
        for i, text in enumerate(r):
            gap = " " * (widths[i] - display_width(text))
            cells.append(gap + text if i in right else text + gap)
        out.append("  ".join(cells).rstrip())
    return out


def _example_lines(examples: list[Example], indent: str) -> list[str]:
    out = []
    for e in examples:
        values = ", ".join(f"{k}={fmt_value(v)}" for k, v in e.fields.items())
        out.append(f"{indent}{example_key(e)} (row {e.row}): {values}")
    return out


def render(impact: Impact) -> str:
    """The impact as text for an analyst: records, then per segment a matrix, per output a change line."""
    old, new = impact.old, impact.new
    out = [f"{old.name} {old.version} ({old.source}) → {new.name} {new.version} ({new.source})",
           f"on {impact.data or 'the records given'}, as of {impact.as_of.isoformat()}"]
    rj = impact.rejected
    line = (f"{fmt_count(impact.rows_in)} records: {fmt_count(impact.compared)} decided by both policies and compared")
    parts = [f"{fmt_count(n)} {what}" for n, what in ((rj.both, "rejected by both"),
                                                      (rj.old_only, "rejected by the old policy only"),
                                                      (rj.new_only, "rejected by the new policy only")) if n]
    out.append(line + ("; " + ", ".join(parts) if parts else ""))
    for e in rj.examples:
        reasons = "; ".join(f"{side}: {r}" for side, r in (("old", e.reason_old), ("new", e.reason_new)) if r)
        out.append(f"  rejected ({e.by}) {example_key(e)} (row {e.row}): {reasons}")
    if impact.pii_fields:
        out.append(f"personal data ({', '.join(impact.pii_fields)}): "
                   + ("shown (--show-pii)" if impact.pii_shown else f"hidden as {MASK}"))
    total = impact.compared
    for seg in impact.segments:
        out.append("")
        title = seg.segment + (f" {seg.label}" if seg.label else "") + (" (tags)" if seg.kind == "all" else "")
        if not seg.changed:
            sizes = ", ".join(f"{member_text(s.member, s.label)} {fmt_count(s.new)}" for s in seg.sizes)
            out.append(f"{title}: no record changes ({sizes})")
            continue
        noun = "tags" if seg.kind == "all" else "member"
        out.append(f"{title}: {fmt_count(seg.changed)} of {fmt_count(total)} records ({_share(seg.changed, total)}) "
                   f"change {noun}")
        if seg.kind == "all":
            rows = [["member", "before", "after", "kept", "gained", "lost"]]
            rows += [[member_text(t.member, t.label), fmt_count(t.old), fmt_count(t.new), fmt_count(t.kept),
                      fmt_count(t.gained), fmt_count(t.lost)] for t in seg.tags]
            out.extend("  " + r for r in _table(rows, set(range(1, 6))))
            for t in seg.tags:
                for what, n, examples in (("gained", t.gained, t.examples_gained), ("lost", t.lost, t.examples_lost)):
                    if n:
                        out.append(f"  {member_text(t.member, t.label)} {what} by {fmt_count(n)} records, e.g.")
                        out.extend(_example_lines(examples, "    "))
            continue
        keep_r = [i for i, m in enumerate(seg.rows) if m.id is not None or any(seg.matrix[i])]
        keep_c = [j for j, m in enumerate(seg.columns) if m.id is not None or any(r[j] for r in seg.matrix)]
        rows = [["before \\ after", *(member_text(seg.columns[j].id, seg.columns[j].label) for j in keep_c), "total"]]
        for i in keep_r:
            cells = [fmt_count(seg.matrix[i][j]) if seg.matrix[i][j] else "·" for j in keep_c]
            rows.append([member_text(seg.rows[i].id, seg.rows[i].label), *cells, fmt_count(sum(seg.matrix[i]))])
        rows.append(["total", *(fmt_count(sum(r[j] for r in seg.matrix)) for j in keep_c), fmt_count(total)])
        out.extend("  " + r for r in _table(rows, set(range(1, len(rows[0])))))
        labels_old = {m.id: m.label for m in seg.rows}
        labels_new = {m.id: m.label for m in seg.columns}
        for t in seg.transitions:
            out.append(f"  {member_text(t.old, labels_old.get(t.old))} → {member_text(t.new, labels_new.get(t.new))}: "
                       f"{fmt_count(t.count)} records" + (", e.g." if t.examples else ""))
            out.extend(_example_lines(t.examples, "    "))
    for only, what in ((impact.segments_added, "added"), (impact.segments_removed, "removed")):
        for seg in only:
            out.append("")
            sizes = ", ".join(f"{member_text(s.member, s.label)} {fmt_count(s.count)} ({_share(s.count, total)})"
                              for s in seg.sizes)
            out.append(f"segment {what}: {seg.segment}{' ' + seg.label if seg.label else ''}: {sizes}")
    if impact.outputs or impact.outputs_added or impact.outputs_removed:
        out.append("")
    for o in impact.outputs:
        out.append(output_line(o, total))
        for t in o.transitions:
            keys = ", ".join(example_key(e) for e in t.examples)
            out.append(f"  {fmt_value(t.old)} → {fmt_value(t.new)}: {fmt_count(t.count)} records"
                       + (f" (e.g. {keys})" if keys else ""))
        if o.other_transitions:
            out.append(f"  … {fmt_count(o.other_transitions)} more records with other changes")
    for only, what in ((impact.outputs_added, "added"), (impact.outputs_removed, "removed")):
        for o in only:
            line = f"output {what}: {o.output}{' ' + o.label if o.label else ''}"
            if o.numeric:
                line += f"; mean {fmt_number(o.stats.mean)}; total {fmt_number(o.stats.sum)}"
            else:
                line += "; " + ", ".join(f"{fmt_value(v.value)} {fmt_count(v.count)}" for v in o.top_values)
            out.append(line)
    return "\n".join(out)


def output_line(o: OutputImpact, total: int) -> str:
    """`discount: 312 of 1,000 records change; mean 0.072 → 0.079 (+0.007, +9.7%); total 72.0 → 79.0 (…)`."""
    name = o.output + (f" {o.label}" if o.label else "")
    line = (f"{name}: {fmt_count(o.changed)} of {fmt_count(total)} records change" if o.changed
            else f"{name}: no record changes")
    if o.numeric:
        line += f"; mean {fmt_change(o.old.mean, o.new.mean)}; total {fmt_change(o.old.sum, o.new.sum)}"
    if o.old.missing or o.new.missing:
        line += f"; missing {fmt_count(o.old.missing)} → {fmt_count(o.new.missing)}"
    if o.masked:
        line += f" (values computed from personal data: hidden as {MASK})"
    return line
