"""The impact of a policy edit (engine.diff.Impact) as one self-contained HTML page.

Everything is inside the file — CSS in a <style> element, the charts as inline SVG drawn
here in Python — so it opens offline, from an e-mail attachment or a shared drive, with no
script and no network. Every text that comes from a policy or the data (names, labels, member
ids, values) is escaped with html.escape: a label may be written `<script>…` and stays text.

Charts: per segment, a grouped bar chart of member sizes before and after (class `chart sizes`);
per segment with one member per record, a heatmap of the transition matrix (class
`chart heatmap`, one `rect.cell` per cell, shaded by count, the count written in it).
"""
from __future__ import annotations

import html
import os

from .diagnostics import display_width
from .diff import MASK, Example, Impact, OutputImpact, SegmentImpact
from .diff_text import fmt_change, fmt_count, fmt_number, fmt_value, member_text, output_line
from .io import atomic_write

FONT = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',system-ui,sans-serif"
OLD_COLOR, NEW_COLOR = "#8da0cb", "#e78a3c"
CHAR = 7.2  # px per display column at 12px

PAGE_CSS = f"""
body {{ font-family: {FONT}; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }}
h1 {{ font-size: 1.5rem; margin-bottom: .2rem; }}
"""
# what render_fragment's HTML needs, wherever it is shown (the report page, the workbench)
CONTENT_CSS = """
h2 { font-size: 1.2rem; margin-top: 2.2rem;
  border-bottom: 1px solid #ddd; padding-bottom: .2rem; } h3 { font-size: 1.05rem; margin-top: 1.6rem; }
.meta { color: #555; margin: .2rem 0; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .9rem; min-width: 9rem; }
.card b { display: block; font-size: 1.4rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.chart { display: block; margin: .6rem 0; max-width: 100%; height: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 .8rem; vertical-align: middle; }
details { margin: .4rem 0; } summary { cursor: pointer; }
.note { color: #666; font-size: .85rem; }
"""


def _e(value) -> str:
    """Escape any text for HTML (element content and attribute values alike)."""
    return html.escape(str(value), quote=True)


def render_html(impact: Impact) -> str:
    """The whole report as an HTML document (a string)."""
    old, new = impact.old, impact.new
    title = f"Impact of the edit to {new.name}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{PAGE_CSS}{CONTENT_CSS}</style>", "</head>", "<body>",
        f"<h1>{_e(title)}{' — ' + _e(new.label) if new.label else ''}</h1>",
        f'<p class="meta">Before: <b>{_e(old.name)} {_e(old.version)}</b> ({_e(old.source)}, {_e(old.content_hash)}) '
        f"→ after: <b>{_e(new.name)} {_e(new.version)}</b> ({_e(new.source)}, {_e(new.content_hash)})</p>",
        f'<p class="meta">Records: {_e(impact.data or "given in Python")}, decided as of {_e(impact.as_of.isoformat())}.'
        + (f" Personal data ({_e(', '.join(impact.pii_fields))}): "
           + ("shown." if impact.pii_shown else f"hidden as {_e(MASK)}.") if impact.pii_fields else "") + "</p>",
        render_fragment(impact),
    ]
    parts.append('<p class="note">Made by <code>rules diff</code> (customer-rules).</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_fragment(impact: Impact) -> str:
    """The report's findings without the page around them: counts, segments with their charts, outputs."""
    parts = [_cards(impact), _rejects(impact)]
    if impact.segments or impact.segments_added or impact.segments_removed:
        parts.append("<h2>Segments</h2>")
        parts.append('<p class="note">Counts are over the records both policies decided. In a heatmap, rows are the '
                     "member before the edit and columns the member after it; grey cells on the diagonal are records "
                     "that stay, orange cells records that move.</p>")
    for seg in impact.segments:
        parts.append(_segment(seg, impact.compared))
    for only, what in ((impact.segments_added, "added"), (impact.segments_removed, "removed")):
        for seg in only:
            label = f" {seg.label}" if seg.label else ""
            rows = "".join(f"<tr><td>{_e(member_text(s.member, s.label))}</td><td class=n>{fmt_count(s.count)}</td>"
                           f"<td class=n>{_share(s.count, impact.compared)}</td></tr>" for s in seg.sizes)
            parts.append(f"<h3>Segment {what}: {_e(seg.segment)}{_e(label)}</h3>"
                         f"<table><tr><th>member</th><th>records</th><th>share</th></tr>{rows}</table>")
    parts.append(_outputs(impact))
    return "\n".join(parts)


def write_html(impact: Impact, path: str | os.PathLike) -> None:
    """Write the report to `path` atomically: the file is replaced only once it is complete."""
    text = render_html(impact)
    with atomic_write(path) as f:
        f.write(text)


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "-"


def _cards(impact: Impact) -> str:
    rj = impact.rejected
    cards = [("records read", impact.rows_in), ("compared (decided by both)", impact.compared),
             ("rejected by both", rj.both), ("rejected by the old policy only", rj.old_only),
             ("rejected by the new policy only", rj.new_only)]
    return '<div class="cards">' + "".join(f'<div class="card"><b>{fmt_count(n)}</b>{_e(what)}</div>'
                                           for what, n in cards) + "</div>"


def _rejects(impact: Impact) -> str:
    examples = impact.rejected.examples
    if not examples:
        return ""
    rows = "".join(f"<tr><td class=n>{e.row}</td><td>{_e(fmt_value(e.key))}</td><td>{_e(e.by)}</td>"
                   f"<td>{_e(e.reason_old or '')}</td><td>{_e(e.reason_new or '')}</td></tr>" for e in examples)
    return ("<details><summary>Example rejected records</summary><table><tr><th>row</th><th>key</th><th>rejected by"
            f"</th><th>old policy's reason</th><th>new policy's reason</th></tr>{rows}</table></details>")


def _segment(seg: SegmentImpact, total: int) -> str:
    title = f"{_e(seg.segment)}{' ' + _e(seg.label) if seg.label else ''}{' (tags)' if seg.kind == 'all' else ''}"
    noun = "tags" if seg.kind == "all" else "member"
    summary = (f"{fmt_count(seg.changed)} of {fmt_count(total)} records ({_share(seg.changed, total)}) change {noun}."
               if seg.changed else "No record changes.")
    out = [f'<section class="segment" data-segment="{_e(seg.segment)}">', f"<h3>{title}</h3>", f"<p>{summary}</p>",
           '<div class="charts">', _size_chart(seg)]
    if seg.kind == "single":
        out.append(_heatmap(seg))
    out.append("</div>")
    if seg.kind == "all":
        rows = "".join(
            f"<tr><td>{_e(member_text(t.member, t.label))}</td>" + "".join(
                f"<td class=n>{fmt_count(v)}</td>" for v in (t.old, t.new, t.kept, t.gained, t.lost)) + "</tr>"
            for t in seg.tags)
        out.append("<table><tr><th>member</th><th>before</th><th>after</th><th>kept</th><th>gained</th><th>lost</th>"
                   f"</tr>{rows}</table>")
        for t in seg.tags:
            for what, n, examples in (("gained", t.gained, t.examples_gained), ("lost", t.lost, t.examples_lost)):
                if n:
                    out.append(_examples(f"{member_text(t.member, t.label)} {what}: {fmt_count(n)} records", examples))
    else:
        old_labels = {m.id: m.label for m in seg.rows}
        new_labels = {m.id: m.label for m in seg.columns}
        for t in seg.transitions:
            out.append(_examples(f"{member_text(t.old, old_labels.get(t.old))} → "
                                 f"{member_text(t.new, new_labels.get(t.new))}: {fmt_count(t.count)} records",
                                 t.examples))
    out.append("</section>")
    return "\n".join(out)


def _examples(summary: str, examples: list[Example]) -> str:
    if not examples:
        return f"<p>{_e(summary)}</p>"
    names = list(examples[0].fields)
    head = "".join(f"<th>{_e(n)}</th>" for n in ("row", "key", *names))
    rows = "".join("<tr>" + f"<td class=n>{e.row}</td><td>{_e(fmt_value(e.key))}</td>"
                   + "".join(f"<td>{_e(fmt_value(e.fields.get(n)))}</td>" for n in names) + "</tr>" for e in examples)
    return (f"<details><summary>{_e(summary)} — {len(examples)} example{'s' if len(examples) != 1 else ''}</summary>"
            f"<table><tr>{head}</tr>{rows}</table></details>")


def _text_px(text: str) -> float:
    return display_width(text) * CHAR


def _size_chart(seg: SegmentImpact) -> str:
    """Horizontal grouped bars: for each member, its record count before (blue) and after (orange)."""
    sizes = seg.sizes
    names = [member_text(s.member, s.label) for s in sizes]
    label_w = max([_text_px(n) for n in names] + [40]) + 12
    bar_h, gap, top = 13, 10, 28
    biggest = max([s.old for s in sizes] + [s.new for s in sizes] + [1])
    plot_w = 300
    width = label_w + plot_w + 70
    height = top + len(sizes) * (2 * bar_h + gap) + 6
    out = [f'<svg class="chart sizes" data-segment="{_e(seg.segment)}" width="{width:.0f}" height="{height}" '
           f'viewBox="0 0 {width:.0f} {height}" role="img" style="font-family:{FONT};font-size:12px">',
           f"<title>{_e(seg.segment)}: records per member before and after</title>",
           f'<rect x="{label_w:.0f}" y="6" width="11" height="11" fill="{OLD_COLOR}"/>'
           f'<text x="{label_w + 15:.0f}" y="16">before</text>'
           f'<rect x="{label_w + 70:.0f}" y="6" width="11" height="11" fill="{NEW_COLOR}"/>'
           f'<text x="{label_w + 85:.0f}" y="16">after</text>']
    for i, (s, name) in enumerate(zip(sizes, names)):
        y = top + i * (2 * bar_h + gap)
        out.append(f'<text x="{label_w - 8:.0f}" y="{y + bar_h + 4}" text-anchor="end">{_e(name)}</text>')
        for k, (n, color, when) in enumerate(((s.old, OLD_COLOR, "before"), (s.new, NEW_COLOR, "after"))):
            w = plot_w * n / biggest
            yy = y + k * bar_h
            out.append(f'<rect class="bar {when}" x="{label_w:.0f}" y="{yy}" width="{w:.1f}" height="{bar_h - 1}" '
                       f'fill="{color}"><title>{_e(name)} {when}: {fmt_count(n)}</title></rect>'
                       f'<text x="{label_w + w + 4:.1f}" y="{yy + bar_h - 2}" font-size="11">{fmt_count(n)}</text>')
    out.append("</svg>")
    return "".join(out)


def _heatmap(seg: SegmentImpact) -> str:
    """The transition matrix: one cell per (before, after) pair, shaded by its count, the count written in it."""
    rows = [member_text(m.id, m.label) for m in seg.rows]
    cols = [member_text(m.id, m.label) for m in seg.columns]
    row_w = max([_text_px(r) for r in rows] + [50]) + 12
    cell_w = max([_text_px(c) + 10 for c in cols] + [48])
    cell_h, top = 30, 44
    width = row_w + cell_w * len(cols) + 8
    height = top + cell_h * len(rows) + 8
    biggest = max([n for line in seg.matrix for n in line] + [1])
    out = [f'<svg class="chart heatmap" data-segment="{_e(seg.segment)}" width="{width:.0f}" height="{height}" '
           f'viewBox="0 0 {width:.0f} {height}" role="img" style="font-family:{FONT};font-size:12px">',
           f"<title>{_e(seg.segment)}: records from each member before (rows) to each member after (columns)</title>",
           f'<text x="{row_w:.0f}" y="14" fill="#555">after →</text>',
           f'<text x="{row_w - 8:.0f}" y="{top - 6}" text-anchor="end" fill="#555">before ↓</text>']
    for j, c in enumerate(cols):
        x = row_w + j * cell_w + cell_w / 2
        out.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle">{_e(c)}</text>')
    for i, r in enumerate(rows):
        y = top + i * cell_h
        out.append(f'<text x="{row_w - 8:.0f}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end">{_e(r)}</text>')
        for j, c in enumerate(cols):
            n = seg.matrix[i][j]
            stays = seg.rows[i].id == seg.columns[j].id
            fill, ink = _shade(n / biggest, stays)
            x = row_w + j * cell_w
            out.append(f'<rect class="cell{" stays" if stays else ""}" data-count="{n}" x="{x:.1f}" y="{y}" '
                       f'width="{cell_w - 2:.1f}" height="{cell_h - 2}" fill="{fill}">'
                       f"<title>{_e(r)} → {_e(c)}: {fmt_count(n)} records</title></rect>"
                       f'<text x="{x + cell_w / 2 - 1:.1f}" y="{y + cell_h / 2 + 3:.1f}" text-anchor="middle" '
                       f'fill="{ink}">{fmt_count(n) if n else "·"}</text>')
    out.append("</svg>")
    return "".join(out)


def _shade(t: float, stays: bool) -> tuple[str, str]:
    """Fill and text colour for a cell: white for 0, up to dark grey (stays) or dark orange (moves)."""
    if t <= 0:
        return "#ffffff", "#999999"
    t = 0.15 + 0.85 * t
    end = (90, 90, 90) if stays else (214, 96, 20)
    rgb = tuple(round(255 + (e - 255) * t) for e in end)
    ink = "#ffffff" if t > 0.55 else "#222222"
    return "#%02x%02x%02x" % rgb, ink


def _outputs(impact: Impact) -> str:
    if not (impact.outputs or impact.outputs_added or impact.outputs_removed):
        return ""
    total = impact.compared
    head = ("<tr><th>output</th><th>records changed</th><th>mean before → after</th><th>total before → after</th>"
            "<th>missing before → after</th></tr>")
    rows = []
    for o in impact.outputs:
        name = o.output + (f" {o.label}" if o.label else "")
        mean = _e(fmt_change(o.old.mean, o.new.mean)) if o.numeric else ""
        tot = _e(fmt_change(o.old.sum, o.new.sum)) if o.numeric else ""
        rows.append(f'<tr data-output="{_e(o.output)}"><td>{_e(name)}</td>'
                    f"<td class=n>{fmt_count(o.changed)} ({_share(o.changed, total)})</td>"
                    f"<td class=n>{mean}</td><td class=n>{tot}</td>"
                    f"<td class=n>{fmt_count(o.old.missing)} → {fmt_count(o.new.missing)}</td></tr>")
    out = ["<h2>Outputs</h2>", f'<table class="outputs">{head}{"".join(rows)}</table>']
    for o in impact.outputs:
        out.append(_output_changes(o, total))
    for only, what in ((impact.outputs_added, "added"), (impact.outputs_removed, "removed")):
        for o in only:
            name = o.output + (f" {o.label}" if o.label else "")
            stats = (f"mean {fmt_number(o.stats.mean)}, total {fmt_number(o.stats.sum)}, "
                     if o.numeric else "")
            values = ", ".join(f"{fmt_value(v.value)}: {fmt_count(v.count)}" for v in o.top_values)
            out.append(f"<h3>Output {what}: {_e(name)}</h3><p>{_e(stats)}missing {fmt_count(o.stats.missing)}; "
                       f"values: {_e(values)}</p>")
    return "\n".join(out)


def _output_changes(o: OutputImpact, total: int) -> str:
    if not o.transitions:
        return ""
    out = [f"<h3>{_e(o.output)}{' ' + _e(o.label) if o.label else ''}</h3>", f"<p>{_e(output_line(o, total))}</p>"]
    for t in o.transitions:
        out.append(_examples(f"{fmt_value(t.old)} → {fmt_value(t.new)}: {fmt_count(t.count)} records", t.examples))
    if o.other_transitions:
        out.append(f"<p>… {fmt_count(o.other_transitions)} more records with other changes.</p>")
    return "\n".join(out)

