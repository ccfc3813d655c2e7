"""The one canonical layout of a policy (`rules fmt`): the same tokens, comments and meaning, laid out one way.

    >>> from engine import format_text
    >>> print(format_text('policy p version "1"\\ninput c { x : int  total : number? }'), end="")
    policy p
    version "1"
    <BLANKLINE>
    input c {
      x     : int
      total : number?
    }

The layout (docs/language.md, "Formatting"):

- Two spaces of indentation inside `{ }`; one item (field, rule, row) per line; `policy` and
  `version` on lines of their own; one blank line between top-level declarations, except that
  consecutive `let`s and consecutive `output`s keep the source's grouping (together, or apart by
  one blank line). Inside a block, runs of blank lines become one; a blank line starts a new
  alignment group.
- Columns are aligned within a group, by display width (a CJK character counts two):
  - input fields: the names, the `:`, and the modifiers (`key`, labels, `from`, …), which start
    two spaces after the widest plain type with its default (`number = 0`); an `enum(…)`,
    `list(…)` or a type and default wider than 20 columns do not widen that column;
  - a run of outputs: the names and the `:` (the type and modifiers follow, one space apart);
  - segment rules: the member, the label, the `:`;
  - `strategy by` rows: the member and the `:`;
  - `when` rules whose condition and `then` are on one line: the `then`;
  - decision tables: every cell, the `=>`, the member (before a label), each result value.
- One space around operators and keywords; none inside `( )` and `[ ]`, before `,`, after a
  unary `-` or around the `..` of a table range (`[1..5)`); one around the `..` of `clamp`.
  Numbers, strings and dates are written as in the source (`10万` stays `10万`, escapes stay);
  full-width punctuation becomes its ASCII twin, as the parser reads it.
- Nothing is wrapped: a line break inside a condition, value or list of assignments is kept
  where the source has one, and so are breaks before `table`, `members` and `->` in a table's
  header; any other line break inside an item is removed. Continuation lines line up under the
  start of the condition or value (segment rules, `let`s, `by` rows), two spaces deeper than
  `when` in `when` rules, and at the declaration's indentation in headers.
- Comments are kept. A comment on its own line stays above what follows it, at its indentation.
  A comment at the end of a line stays there, keeping its distance from the start of the line
  where the code leaves room (two spaces at least), so hand-aligned comments stay aligned; an
  own-line comment right below it and to the right of the code continues it, in its column. A
  comment inside an item that the layout puts on one line moves to the line above the item.
- The text ends with one newline; `\r\n` line ends become `\n`.

The formatted text is parsed again and must give the same syntax tree as the input (spans aside);
anything else is a bug in the formatter, reported as such and never written.
"""
from __future__ import annotations

import bisect
import difflib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import PolicyError, display_width
from .io import atomic_write
from .parser import Branch, Leaf, concrete_syntax, parse
from .source import Source

__all__ = ["Formatted", "format_file", "format_text"]

INDENT = 2
_PLAIN_TYPES = {"t_int", "t_number", "t_bool", "t_string", "t_date"}
_TYPE_COLUMN_MAX = 20  # a plain type with its default wider than this does not widen the modifier column
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_BOM = b"\xef\xbb\xbf"


def format_text(text: str, path: str | None = None) -> str:
    """The policy text in the canonical layout; raises PolicyError if it does not parse.

    `path` is the name shown in diagnostics. Formatting is idempotent and never changes what the
    policy means: the result parses to the same syntax tree.

    >>> format_text('policy p version "1"  input c { x:int }')
    'policy p\\nversion "1"\\n\\ninput c {\\n  x : int\\n}\\n'
    """
    text = text.replace("\r\n", "\n")
    source = Source(text, path or "<string>")
    before = parse(source)
    tree, comments = concrete_syntax(source)
    out = _Printer(text, tree).render(comments)
    try:
        same = parse(Source(out, source.path)) == before
    except PolicyError:
        same = False
    if not same:
        raise RuntimeError(f"formatting {source.path} would change what it means, so it was left as it is; "
                           "this is a bug in `rules fmt`, please report it with the file")
    return out


@dataclass(frozen=True)
class Formatted:
    """One policy file before and after formatting."""

    path: str
    before: str  # the text as read (decoded)
    after: str  # the canonical text

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff from the file as it is to the file formatted ('' when unchanged)."""
        lines = difflib.unified_diff(self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                                     self.path, f"{self.path} (formatted)")
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def format_file(path, write: bool = True) -> Formatted:
    """Format a `.rules` file; with `write`, replace it (atomically, in its own encoding) when it changes.

    The file is read as UTF-8 (with or without a BOM) or else GB18030, as policies are loaded, and
    written back the same way, with the same permissions. Raises PolicyError if it does not parse.
    """
    data = Path(path).read_bytes()
    if data.startswith(_BOM):
        encoding = "utf-8-sig"
    else:
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "gb18030"
    before = data.decode(encoding)
    result = Formatted(str(path), before, format_text(before, str(path)))
    if write and result.changed:
        mode = os.stat(path).st_mode
        with atomic_write(path, encoding=encoding) as f:
            f.write(result.after)
        os.chmod(path, stat.S_IMODE(mode))  # the new file keeps the old one's permissions
    return result


# ---- the printer ---------------------------------------------------------------------------

def _leaves(node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    return [leaf for child in node.children for leaf in _leaves(child)]


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


@dataclass(eq=False)
class _Row:
    """One output line of code: its indentation, its text and the tokens on it."""

    indent: int
    kind: str  # item: starts an item; cont: continues one; close: a `}`
    text: str = ""
    leaves: list[Leaf] = field(default_factory=list)
    blank: bool | None = None  # a blank line before it: forced, or None for as in the source

    def add(self, text: str, leaves=()) -> None:
        self.text += text
        self.leaves.extend(leaves)


class _Printer:
    def __init__(self, text: str, tree: Branch):
        self.text = text
        self.tree = tree
        self.rows: list[_Row] = []
        self.unary: set[int] = set()  # starts of unary `-`
        self.tight: set[int] = set()  # starts of the `..` of table ranges
        self._mark(tree)

    def _mark(self, node: Branch) -> None:
        if node.kind in ("neg", "neg_number"):
            self.unary.add(node.children[0].start)
        elif node.kind.startswith("range_"):
            self.tight.update(c.start for c in node.children if isinstance(c, Leaf) and c.text == "..")
        for child in node.children:
            if isinstance(child, Branch):
                self._mark(child)

    # -- spacing and lines
    def _space(self, a: Leaf, b: Leaf) -> str:
        if a.start in self.unary:
            return " " if b.start in self.unary else ""  # `- -x`, not `--x`
        if b.text in (",", ")", "]") or b.kind == "OPTIONAL" or a.text in ("(", "["):
            return ""
        if a.start in self.tight or b.start in self.tight:
            return ""
        if b.text == "(" and (a.kind == "NAME" or a.text in ("enum", "list", "min", "max")):
            return ""
        return " "

    def join(self, leaves: list[Leaf]) -> str:
        out = []
        for i, leaf in enumerate(leaves):
            if i:
                out.append(self._space(leaves[i - 1], leaf))
            out.append(leaf.text)
        return "".join(out)

    def _broken(self, a: Leaf, b: Leaf) -> bool:
        return "\n" in self.text[a.end:b.start]

    def _blank_between(self, end: int, start: int) -> bool:
        return _BLANK_LINE.search(self.text, end, start) is not None

    def row(self, indent: int, kind: str = "item", **kw) -> _Row:
        r = _Row(indent, kind, **kw)
        self.rows.append(r)
        return r

    def flow(self, row: _Row, leaves: list[Leaf], cont: int, breaks=lambda leaf: True) -> None:
        """Put leaves on the row, starting a continuation line wherever the source breaks the line."""
        prev = None
        for leaf in leaves:
            if prev is not None:
                if self._broken(prev, leaf) and breaks(leaf):
                    row = self.row(cont, "cont")
                else:
                    row.add(self._space(prev, leaf))
            row.add(leaf.text, [leaf])
            prev = leaf

    def groups(self, items: list[Branch]) -> list[list[Branch]]:
        """Items split into alignment groups at blank lines."""
        out: list[list[Branch]] = []
        for item in items:
            if out and not self._blank_between(out[-1][-1].end, item.start):
                out[-1].append(item)
            else:
                out.append([item])
        return out

    # -- the policy
    def render(self, comments: list[Leaf]) -> str:
        header, decls = self.tree.children[0], list(self.tree.children[1:])
        self.header(header)
        prev = None
        i = 0
        while i < len(decls):
            run = [decls[i]]  # a run of outputs without a blank line between them is aligned together
            while (run[0].kind == "output" and i + len(run) < len(decls) and decls[i + len(run)].kind == "output"
                   and not self._blank_between(run[-1].end, decls[i + len(run)].start)):
                run.append(decls[i + len(run)])
            start = len(self.rows)
            if run[0].kind == "output":
                self.typed_lines(run, 0, "output ")
                firsts = range(start, start + len(run))  # one line each
            else:
                getattr(self, run[0].kind)(run[0], 0)
                firsts = [start]
            for d, first in zip(run, firsts):
                # one blank line between declarations; consecutive lets or outputs as in the source
                grouped = prev is not None and prev.kind == d.kind and d.kind in ("let", "output")
                self.rows[first].blank = None if grouped else True
                prev = d
            i += len(run)
        return self.finish(comments)

    def header(self, node: Branch) -> None:
        row = self.row(0, blank=False)
        leaves = [c for c in node.children if isinstance(c, Leaf)]
        row.add(self.join(leaves), leaves)
        for version in (c for c in node.children if isinstance(c, Branch)):
            leaves = _leaves(version)
            self.row(0, blank=False).add(self.join(leaves), leaves)

    def head(self, leaves: list[Leaf], indent: int, breaks=()) -> None:
        """A block's first line(s), up to its `{`; the source's line breaks before `breaks` words are kept."""
        self.flow(self.row(indent), leaves, indent, lambda leaf: leaf.text in breaks)

    def block(self, node: Branch, indent: int, items_layout, breaks=()) -> None:
        children = list(node.children)
        brace = next(i for i, c in enumerate(children) if isinstance(c, Leaf) and c.text == "{")
        self.head([leaf for c in children[: brace + 1] for leaf in _leaves(c)], indent, breaks)
        items = [c for c in children[brace + 1:] if isinstance(c, Branch)]
        for group in self.groups(items):
            items_layout(group, indent + INDENT)
        self.row(indent, "close").add("}", [children[-1]])

    # -- declarations
    def input(self, node: Branch, indent: int) -> None:
        self.block(node, indent, lambda group, ind: self.typed_lines(group, ind, ""))

    def let(self, node: Branch, indent: int) -> None:
        let, name, eq, expr = node.children
        row = self.row(indent)
        prefix = f"let {name.text} = "
        row.add(prefix, [let, name, eq])
        self.flow(row, _leaves(expr), indent + display_width(prefix))

    def segment_rules(self, node: Branch, indent: int) -> None:
        self.block(node, indent, self.seg_rules)

    def segment_table(self, node: Branch, indent: int) -> None:
        self.block(node, indent, self.table_rows, breaks=("table", "members"))

    def strategy_when(self, node: Branch, indent: int) -> None:
        self.block(node, indent, self.when_rules)

    def strategy_by(self, node: Branch, indent: int) -> None:
        self.block(node, indent, self.by_rows)

    def strategy_table(self, node: Branch, indent: int) -> None:
        self.block(node, indent, self.table_rows, breaks=("table", "->"))

    def typed_lines(self, group: list[Branch], indent: int, keyword: str) -> None:
        """Fields (`name : type mods`) or outputs (`output name : type mods`), aligned as a group."""
        specs = []
        for node in group:
            kids = list(node.children)
            if keyword:
                kids = kids[1:]
            name, type_, rest = kids[0], kids[2], kids[3:]  # kids[1] is the `:`
            unit = _leaves(type_)
            if rest and isinstance(rest[0], Leaf):  # `?`
                unit.append(rest.pop(0))
            if rest and rest[0].kind == "mod_default":
                unit.extend(_leaves(rest.pop(0)))
            mods = [leaf for m in rest for leaf in _leaves(m)]
            specs.append((node, name, self.join(unit), self.join(mods), type_.kind in _PLAIN_TYPES))
        name_width = max(display_width(s[1].text) for s in specs)
        type_width = max([display_width(unit) for _, _, unit, mods, plain in specs
                          if mods and plain and display_width(unit) <= _TYPE_COLUMN_MAX], default=0)
        for node, name, unit, mods, _ in specs:
            text = f"{keyword}{_pad(name.text, name_width)} : {unit}"
            if mods and keyword:  # an output's modifiers follow its type
                text += f" {mods}"
            elif mods:  # a field's modifiers stand in a column
                text = f"{keyword}{_pad(name.text, name_width)} : {_pad(unit, type_width)}  {mods}"
            self.row(indent).add(text, _leaves(node))

    def seg_rules(self, group: list[Branch], indent: int) -> None:
        specs = []
        for rule in group:
            kids = list(rule.children)
            colon = next(i for i, c in enumerate(kids) if isinstance(c, Leaf) and c.text == ":")
            label = kids[1].text if colon == 2 else ""
            specs.append((kids[0].text, label, kids[: colon + 1], [leaf for c in kids[colon + 1:] for leaf in _leaves(c)]))
        id_width = max(display_width(s[0]) for s in specs)
        label_width = max(display_width(s[1]) for s in specs)
        for member, label, head, tail in specs:
            prefix = _pad(member, id_width) + (" " + _pad(label, label_width) if label_width else "") + " : "
            row = self.row(indent)
            row.add(prefix, head)
            self.flow(row, tail, indent + display_width(prefix))

    def by_rows(self, group: list[Branch], indent: int) -> None:
        width = max(display_width(r.children[0].text) for r in group)
        for r in group:
            member, colon, *assigns = r.children
            prefix = _pad(member.text, width) + " : "
            row = self.row(indent)
            row.add(prefix, [member, colon])
            self.flow(row, [leaf for a in assigns for leaf in _leaves(a)], indent + display_width(prefix))

    def when_rules(self, group: list[Branch], indent: int) -> None:
        specs = []
        for r in group:
            when, cond, then, *assigns = r.children
            cond_leaves = _leaves(cond)
            one_line = not self._broken(when, cond_leaves[0]) and not any(
                self._broken(a, b) for a, b in zip(cond_leaves, cond_leaves[1:] + [then]))
            specs.append((r, when, cond_leaves, then, [leaf for a in assigns for leaf in _leaves(a)], one_line))
        width = max([display_width(self.join(s[2])) for s in specs if s[5]], default=0)
        for r, when, cond, then, assigns, one_line in specs:
            row = self.row(indent)
            if one_line:
                row.add(f"when {_pad(self.join(cond), width)} then ", [when, *cond, then])
                self.flow(row, assigns, indent + INDENT)
            else:
                self.flow(row, _leaves(r), indent + INDENT)

    def table_rows(self, group: list[Branch], indent: int) -> None:
        specs = []
        for r in group:
            cells_node, arrow, *rest = r.children
            cells = [self.join(_leaves(c)) for c in cells_node.children if isinstance(c, Branch)]
            if r.kind == "seg_row":
                results = [rest[0].text] + ([rest[1].text] if len(rest) > 1 else [])
            else:
                results = [self.join(_leaves(v)) for v in rest if isinstance(v, Branch)]
            specs.append((r, cells, results))
        ncells = max(len(s[1]) for s in specs)
        cell_widths = [max([display_width(s[1][j]) for s in specs if j < len(s[1])], default=0) for j in range(ncells)]
        cells_text = [" | ".join(_pad(c, cell_widths[j]) if j < len(cells) - 1 else c for j, c in enumerate(cells))
                      for _, cells, _ in specs]
        cells_width = max(display_width(t) for t in cells_text)
        nres = max(len(s[2]) for s in specs)
        seg = group[0].kind == "seg_row"
        res_widths = [max([display_width(s[2][j]) + (0 if seg else 1) for s in specs if j < len(s[2]) - 1], default=0)
                      for j in range(nres)]
        for (r, _, results), text in zip(specs, cells_text):
            pieces = [(res if seg or j == len(results) - 1 else res + ",") for j, res in enumerate(results)]
            shown = " ".join(_pad(p, res_widths[j]) if j < len(pieces) - 1 else p for j, p in enumerate(pieces))
            self.row(indent).add(f"{_pad(text, cells_width)} => {shown}", _leaves(r))

    # -- comments and blank lines
    def finish(self, comments: list[Leaf]) -> str:
        text, rows = self.text, self.rows
        where: dict[int, tuple[int, bool]] = {}
        for i, row in enumerate(rows):
            for j, leaf in enumerate(row.leaves):
                where[leaf.start] = (i, j == len(row.leaves) - 1)
        starts = sorted(where)
        things = sorted([(leaf.start, leaf.end) for row in rows for leaf in row.leaves]
                        + [(c.start, c.end) for c in comments])
        thing_starts = [s for s, _ in things]
        lines = Source(text)

        def blank_before(start: int) -> bool:
            k = bisect.bisect_left(thing_starts, start)
            return k > 0 and self._blank_between(things[k - 1][1], start)

        def column(pos: int) -> int:
            line_start = text.rfind("\n", 0, pos) + 1
            return display_width(text[line_start:pos])

        before: dict[int, list[list[Leaf]]] = {}  # row -> comment groups to put above it
        trailing: dict[int, list[Leaf]] = {}  # row -> an end-of-line comment group
        at_end: list[list[Leaf]] = []
        last_group: list[Leaf] | None = None  # an end-of-line comment's group, while it can be continued
        code_end = 0  # the column where the code before that comment ends
        for c in comments:
            line, _ = lines.line_col(c.start)
            own_line = text[text.rfind("\n", 0, c.start) + 1:c.start].strip() == ""
            if (own_line and last_group is not None and lines.line_col(last_group[-1].start)[0] == line - 1
                    and column(c.start) > code_end):
                last_group.append(c)  # continues the end-of-line comment above it
                continue
            group = [c]
            last_group = None
            if own_line:
                k = bisect.bisect_right(starts, c.start)
                if k == len(starts):
                    at_end.append(group)
                else:
                    before.setdefault(where[starts[k]][0], []).append(group)
            else:
                p = starts[bisect.bisect_left(starts, c.start) - 1]
                i, is_last = where[p]
                code_end = column(next(leaf.end for leaf in rows[i].leaves if leaf.start == p))
                if is_last and i not in trailing:
                    trailing[i] = group
                else:
                    before.setdefault(i, []).append(group)
                last_group = group

        out: list[tuple[bool | None, str, int]] = []  # (blank line before: forced, or None as in the source; line; offset)

        def put_comments(group: list[Leaf], indent: int, blank: bool | None) -> None:
            for k, c in enumerate(group):
                out.append((blank if k == 0 else False, " " * indent + c.text.rstrip(), c.start))

        opened = False  # the last line of code ends with `{`
        for i, row in enumerate(rows):
            groups = before.get(i, [])
            first = row.leaves[0].start
            # comments above a `}` are indented as the block's items
            indent = row.indent + (INDENT if row.kind == "close" else 0)
            moved = 0  # comments from inside the row, put above it: the row's blank line goes above them
            for g, group in enumerate(groups):
                if row.kind == "cont" or (g == 0 and opened):
                    lead = False
                elif group[0].start < first:  # a comment that was above the row already
                    lead = row.blank if g == 0 and row.kind == "item" else None
                else:
                    moved += 1
                    lead = (False if moved > 1 or row.kind == "close"
                            else row.blank if g == 0 and row.blank is not None else blank_before(first))
                put_comments(group, indent, lead)
            if row.kind in ("cont", "close") or moved or (opened and not groups):
                blank = False
            else:
                blank = None if groups else row.blank
            line = " " * row.indent + row.text.rstrip()
            if i in trailing:
                group = trailing[i]
                # the comment keeps its place relative to the start of its line, if the code leaves room
                col = max(column(group[0].start) - column(row.leaves[0].start) + row.indent, display_width(line) + 2)
                out.append((blank, _pad(line, col) + group[0].text.rstrip(), row.leaves[0].start))
                for c in group[1:]:
                    out.append((False, " " * col + c.text.rstrip(), c.start))
            else:
                out.append((blank, line, row.leaves[0].start))
            opened = row.leaves[-1].text == "{"
        for group in at_end:
            put_comments(group, 0, None)

        result = []
        for k, (blank, line, start) in enumerate(out):
            if k and (blank if blank is not None else blank_before(start)):
                result.append("")
            result.append(line)
        return "\n".join(result) + "\n"
