"""Policy text -> ast.Policy. The only module that imports lark; parse errors become Diagnostics."""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import lark
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .cache import cache_dir
from .diagnostics import Diagnostic, PolicyError
from .source import Source, Span

KEYWORDS = frozenset(
    "policy version input let segment table members output combine clamp strategy when then by "
    "otherwise and or not in between is missing present has starts_with ends_with contains matches "
    "key pii from first unique any priority all last sum min max count list true false today days "
    "weeks int number bool string date enum".split()
)

# Full-width punctuation a Chinese input method types by mistake, read as its ASCII twin.
FULL_WIDTH = {
    "，": ",", "：": ":", "（": "(", "）": ")", "［": "[", "］": "]", "｛": "{", "｝": "}",
    "＝": "=", "＜": "<", "＞": ">", "！": "!", "？": "?", "｜": "|", "－": "-", "＋": "+",
    "＊": "*", "／": "/", "％": "%", "＃": "#", "　": " ",
}
# Full-width characters that have no twin in the language: named in the error with the fix.
NO_TWIN = {"；": "`;` is not used in policies: end the line instead", "。": "remove the `。`",
           "、": "separate items with `,`", "《": "quote strings with `\"`", "》": "quote strings with `\"`"}

_SUFFIX = {"%": Decimal("0.01"), "万": Decimal(10_000), "亿": Decimal(100_000_000)}


def normalize_full_width(text: str) -> str:
    """Replace full-width punctuation outside strings and comments by ASCII; `“…”` become `"…"`.

    Every replacement is one character for one, so offsets (and so spans) are unchanged.
    """
    out: list[str] = []
    in_string = in_comment = escaped = False
    closer = '"'
    for ch in text:
        if in_comment:
            in_comment = ch != "\n"
            out.append(ch)
        elif in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == closer or ch == '"':
                in_string = False
                ch = '"'
            out.append(ch)
        elif ch in '"“':
            in_string, closer = True, '"' if ch == '"' else "”"
            out.append('"')
        elif ch == "#":
            in_comment = True
            out.append(ch)
        else:
            out.append(FULL_WIDTH.get(ch, ch))
    return "".join(out)


class _RowLabels:
    """Postlexer: a string on the same line right after `=> member` is that table row's label."""

    always_accept = ()

    def process(self, stream):
        prev2 = prev = None
        for tok in stream:
            if (tok.type == "TEXT" and prev is not None and prev.type == "NAME" and prev2 is not None
                    and prev2.value == "=>" and tok.line == prev.line):
                tok = Token.new_borrow_pos("ROW_LABEL", tok.value, tok)
            prev2, prev = prev, tok
            yield tok


@lru_cache(maxsize=2)
def _lark(keep_all_tokens: bool = False) -> lark.Lark:
    text = resources.files("grammar").joinpath("policy.lark").read_text(encoding="utf-8")
    return lark.Lark(text, parser="lalr", lexer="basic", propagate_positions=True, keep_all_tokens=keep_all_tokens,
                     postlex=_RowLabels(), maybe_placeholders=False,
                     cache=_cache_file(text, "-all-tokens" if keep_all_tokens else ""))


def _cache_file(grammar: str, variant: str = "") -> str | bool:
    """Where Lark keeps its analysis of the grammar between runs (a fifth of a second per command):
    a file in the user's cache folder (engine.cache), named by the grammar and Lark version; off if
    there is none. Lark checks the grammar's hash in the file.
    """
    base = cache_dir()
    if base is None:
        return False
    digest = hashlib.sha256(f"{lark.__version__}\n{grammar}".encode()).hexdigest()[:16]
    return str(base / f"grammar-{digest}{variant}.lark-cache")


# Limits that keep every stage (and the Python compiler the generated code goes through) within
# bounds; docs/language.md, "Limits", lists them.
MAX_SOURCE_CHARS = 5_000_000
MAX_DEPTH = 100  # levels of the parse tree: nested parentheses of arithmetic, `not`, calls, and/or chains
MAX_NAME_CHARS = 128
MAX_RULES = 5_000
MAX_COLUMNS = 100  # of a decision table
_RULE_NODES = frozenset({"seg_rule", "seg_otherwise", "seg_row", "when_rule", "by_row", "strat_row"})


def _tree(text: str, source: Source, keep_all_tokens: bool = False) -> lark.Tree:
    """The parse tree of policy text within the limits above; PolicyError on bad syntax or beyond a limit."""
    if len(text) > MAX_SOURCE_CHARS:
        raise PolicyError([Diagnostic("E005", f"this policy has {len(text):,} characters; the limit is "
                                      f"{MAX_SOURCE_CHARS:,}", Span(0, 1), help="split it into several policies")],
                          source)
    try:
        tree = _lark(keep_all_tokens).parse(text)
    except UnexpectedInput as exc:
        raise PolicyError([_syntax_diagnostic(exc, text)], source) from None
    beyond = _beyond_limits(tree)
    if beyond is not None:
        raise PolicyError([beyond], source)
    return tree


def _beyond_limits(tree: lark.Tree) -> Diagnostic | None:
    """The first limit the tree exceeds, walked without recursion (the tree may be arbitrarily deep)."""
    stack = [(tree, 1)]
    rules = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Token):
            if node.type == "NAME" and len(node) > MAX_NAME_CHARS:
                return Diagnostic("E005", f"a name of {len(node):,} characters; names have at most {MAX_NAME_CHARS}",
                                  Span(node.start_pos, node.start_pos + 1), help="use a shorter name")
            continue
        if depth > MAX_DEPTH:
            start = node.meta.start_pos if not node.meta.empty else 0
            return Diagnostic("E005", f"this is nested more than {MAX_DEPTH} levels deep", Span(start, start + 1),
                              help="give parts of the condition names with `let`, or use `in [...]` for long lists")
        if _columns(node) > MAX_COLUMNS:
            start = node.meta.start_pos
            return Diagnostic("E005", f"this table has more than {MAX_COLUMNS} columns", Span(start, start + 1),
                              help="split it into several tables, or compute a column with `let`")
        if node.data in _RULE_NODES:
            rules += 1
            if rules > MAX_RULES:
                start = node.meta.start_pos
                return Diagnostic("E005", f"this policy has more than {MAX_RULES:,} rules", Span(start, start + 1),
                                  help="split it into several policies")
        stack.extend((child, depth + 1) for child in node.children)
    return None


def _columns(node: lark.Tree) -> int:
    """Cells of a table row, or header columns of a table; 0 for anything else."""
    if node.data == "cells":
        return sum(isinstance(c, lark.Tree) for c in node.children)
    if node.data in ("segment_table", "strategy_table"):
        header = next(c for c in node.children if isinstance(c, lark.Tree) and c.data == "exprs")
        return sum(isinstance(c, lark.Tree) for c in header.children)
    return 0


def parse(source: Source) -> ast.Policy:
    """Parse policy text into an AST; raise PolicyError with a positioned diagnostic on bad syntax."""
    text = normalize_full_width(source.text)
    tree = _tree(text, source)
    builder = _Builder()
    try:
        policy = builder.transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _LiteralError):
            raise PolicyError([exc.orig_exc.diagnostic], source) from None
        raise
    if builder.errors:
        raise PolicyError(builder.errors, source)
    return policy


@dataclass(frozen=True)
class Leaf:
    """A token of the concrete syntax: `kind` is NAME, NUMBER, TEXT, DATE, ROW_LABEL, OPTIONAL or COMMENT,
    or for a keyword or punctuation the text itself; `start`/`end` are offsets in the source."""

    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Branch:
    """A rule of the concrete syntax as grammar/policy.lark names it, with every token kept."""

    kind: str
    children: tuple["Branch | Leaf", ...]
    start: int
    end: int


def concrete_syntax(source: Source) -> tuple[Branch, list[Leaf]]:
    """The full parse tree of policy text (keywords and punctuation kept) and its comments, for
    tools that print a policy back (engine/fmt.py). Token texts are read with full-width
    punctuation as its ASCII twin, as `parse` reads them; raises PolicyError on bad syntax.
    """
    text = normalize_full_width(source.text)
    tree = _tree(text, source, keep_all_tokens=True)
    comments = [Leaf("COMMENT", str(t), t.start_pos, t.end_pos)
                for t in _lark().lex(text, dont_ignore=True) if t.type == "COMMENT"]
    return _concrete(tree), comments


_TYPE_WORDS = {"int", "number", "bool", "string", "date", "enum", "list"}
_HIGHLIGHT = {"COMMENT": "comment", "TEXT": "string", "ROW_LABEL": "string", "NUMBER": "number", "DATE": "number",
              "NAME": "name", "OPTIONAL": "operator"}


def lex_for_highlighting(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each token of policy text, as the parser's own lexer reads them, for
    editors: kind is keyword, type, name, string, number, comment, operator or error. Text the
    lexer cannot read (an unclosed string, a stray character) is one `error` token and lexing
    goes on after it, so a half-typed policy is still highlighted (up to 100 such places; text
    after the hundredth is left plain)."""
    text = normalize_full_width(text)
    literals = {t.name: t.pattern.value for t in _lark().terminals if t.pattern.type == "str"}
    out: list[tuple[int, int, str]] = []
    at = 0
    errors = 0
    while at < len(text) and errors < 100:
        try:
            for tok in _lark().lex(text[at:], dont_ignore=True):
                if tok.type == "WS":
                    continue
                word = literals.get(tok.type)
                kind = _HIGHLIGHT.get(tok.type) or (
                    "operator" if word is None or not word.isalpha() else "type" if word in _TYPE_WORDS else "keyword")
                out.append((at + tok.start_pos, at + tok.end_pos, kind))
            break
        except UnexpectedInput as exc:
            bad = at + exc.pos_in_stream
            end = text.find("\n", bad) if text[bad] == '"' else bad + 1
            end = len(text) if end < 0 else max(end, bad + 1)
            out.append((bad, end, "error"))
            at, errors = end, errors + 1
    return out


def _concrete(node) -> Branch | Leaf:
    if isinstance(node, Token):
        return Leaf(node.type if node.type in _TOKEN_NAMES else str(node), str(node), node.start_pos, node.end_pos)
    children = tuple(_concrete(c) for c in node.children)
    return Branch(str(node.data), children, node.meta.start_pos, node.meta.end_pos)


# ---- syntax errors -----------------------------------------------------------------------

_TOKEN_NAMES = {"NAME": "a name", "NUMBER": "a number", "TEXT": "a string", "DATE": "a date",
                "ROW_LABEL": "a label", "OPTIONAL": "`?`", "$END": "the end of the file"}


def _describe(terminal: str) -> str:
    if terminal in _TOKEN_NAMES:
        return _TOKEN_NAMES[terminal]
    for term in _lark().terminals:
        if term.name == terminal:
            return f"`{term.pattern.value}`"
    return terminal


def _syntax_diagnostic(exc: UnexpectedInput, text: str) -> Diagnostic:
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[pos]
        if ch == '"':
            end = text.find("\n", pos)
            return Diagnostic("E003", "this string is not closed", Span(pos, end if end > 0 else len(text)),
                              help='end the string with `"` on the same line')
        if ch in NO_TWIN:
            return Diagnostic("E002", f"full-width `{ch}` is not part of the language", Span(pos, pos + 1),
                              help=NO_TWIN[ch])
        return Diagnostic("E002", f"unexpected character `{ch}`", Span(pos, pos + 1),
                          help="names are letters, digits and `_`; strings go in double quotes")
    expected = sorted({_describe(t) for t in exc.expected if not t.startswith("__ANON") or True})
    listing = ", ".join(expected[:10]) + (" …" if len(expected) > 10 else "")
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        end = len(text.rstrip())
        return Diagnostic("E001", "the policy ends too early", Span(max(end - 1, 0), max(end, 1)),
                          help=f"expected {listing}")
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    span = Span(tok.start_pos, tok.end_pos)
    if tok.value in KEYWORDS and "NAME" in exc.expected:
        return Diagnostic("E004", f"`{tok.value}` is a reserved word and cannot be used as a name", span,
                          help=f"choose another name, e.g. `{tok.value}_value`; a CSV column of that name "
                               f"can still be read with `from \"{tok.value}\"`")
    help = f"expected {listing}"
    earlier = [t for t in _previous_tokens(text, tok.start_pos) if t.line < tok.line]
    if earlier:  # the mistake is often an unfinished line above, whose end swallowed this one's start
        help = f"is line {earlier[-1].line} complete? {help}"
    return Diagnostic("E001", f"unexpected {_describe(tok.type) if tok.type in _TOKEN_NAMES else f'`{tok.value}`'}",
                      span, help=help)


def _previous_tokens(text: str, pos: int, n: int = 2) -> list[Token]:
    """The last n tokens before a position (the text lexes cleanly up to a parse error)."""
    tokens: list[Token] = []
    try:
        for tok in _lark().lex(text[:pos], dont_ignore=False):
            tokens = (tokens + [tok])[-n:]
    except UnexpectedInput:
        return []
    return tokens


# ---- tree -> AST -------------------------------------------------------------------------

class _LiteralError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def _span(meta) -> Span:
    return Span(meta.start_pos, meta.end_pos)


def _tspan(tok: Token) -> Span:
    return Span(tok.start_pos, tok.end_pos)


def _unquote(tok: Token) -> str:
    """The value of a string token: `\\"` and `\\\\` are escapes; any other backslash is kept."""
    body, out, i = tok.value[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '"\\':
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def number_value(text: str) -> int | float:
    """The value of a number literal: `100_000`, `0.5`, `10%`, `10万`, `1.5亿`.

    Integral values without `.` or `%` are ints (`1.5亿` is too, being a whole number); others floats.
    """
    digits, suffix = (text[:-1], text[-1]) if text[-1] in _SUFFIX else (text, "")
    value = Decimal(digits.replace("_", ""))
    if suffix:
        value *= _SUFFIX[suffix]
    if suffix != "%" and value == value.to_integral_value() and ("." not in digits or suffix):
        return int(value)
    return float(value)


@v_args(meta=True)
class _Builder(Transformer):
    """Builds frozen AST nodes with ids and spans; collects reserved-word and literal errors."""

    def __init__(self):
        super().__init__()
        self._ids = itertools.count(1)
        self.errors: list[Diagnostic] = []

    def _node(self, cls, meta_or_span, *args, **kw):
        span = meta_or_span if isinstance(meta_or_span, Span) else _span(meta_or_span)
        return cls(*args, id=next(self._ids), span=span, **kw)

    def _ident(self, tok: Token) -> ast.Ident:
        return ast.Ident(str(tok), id=next(self._ids), span=_tspan(tok))

    # -- header and declarations
    def start(self, meta, children):
        header, decls = children[0], children[1:]
        name, label, version = header
        groups: dict[type, list] = {ast.Input: [], ast.Let: [], ast.Segment: [], ast.Output: [], ast.Strategy: []}
        for d in decls:
            groups[type(d)].append(d)
        return self._node(ast.Policy, meta, name, label, version, *(tuple(groups[k]) for k in groups))

    def header(self, meta, children):
        name = self._ident(children[0])
        label = version = None
        for c in children[1:]:
            if isinstance(c, Token):
                label = _unquote(c)
            else:
                version = c
        return name, label, version

    def version(self, meta, children):
        return _unquote(children[0])

    def input(self, meta, children):
        return self._node(ast.Input, meta, self._ident(children[0]), tuple(children[1:]))

    def field(self, meta, children):
        name, type_ = self._ident(children[0]), children[1]
        mods = children[2:]
        optional = bool(mods) and isinstance(mods[0], Token) and mods[0].type == "OPTIONAL"
        if optional:
            mods = mods[1:]
        kw = dict(default=None, key=False, pii=False, label=None, column=None)
        for kind, value in mods:
            kw[kind] = value
        return self._node(ast.Field, meta, name, type_, optional, **kw)

    def mod_default(self, meta, c):
        return ("default", c[0])

    def mod_key(self, meta, c):
        return ("key", True)

    def mod_pii(self, meta, c):
        return ("pii", True)

    def mod_label(self, meta, c):
        return ("label", _unquote(c[0]))

    def mod_column(self, meta, c):
        return ("column", _unquote(c[0]))

    def mod_combine(self, meta, c):
        return ("combine", str(c[0].children[0]))

    def mod_clamp(self, meta, c):
        return ("clamp", (c[0], c[1]))

    def _type(name):  # noqa: N805 - a factory for the simple type rules
        def build(self, meta, children):
            return self._node(ast.TypeRef, meta, name)
        return build

    t_int, t_number, t_bool, t_string, t_date = _type("int"), _type("number"), _type("bool"), _type("string"), _type("date")

    def t_enum(self, meta, children):
        return self._node(ast.TypeRef, meta, "enum", members=tuple(self._ident(t) for t in children))

    def t_list(self, meta, children):
        return self._node(ast.TypeRef, meta, "list", elem=children[0])

    def let(self, meta, children):
        return self._node(ast.Let, meta, self._ident(children[0]), children[1])

    def _segment_head(self, children):
        name, label, hit, rest = self._ident(children[0]), None, "first", list(children[1:])
        if rest and isinstance(rest[0], Token) and rest[0].type == "TEXT":
            label = _unquote(rest.pop(0))
        if rest and isinstance(rest[0], lark.Tree) and rest[0].data == "hit":
            hit = str(rest.pop(0).children[0])
        return name, label, hit, rest

    def segment_rules(self, meta, children):
        name, label, hit, rules = self._segment_head(children)
        return self._node(ast.Segment, meta, name, label, hit, tuple(rules), None)

    def segment_table(self, meta, children):
        name, label, hit, rest = self._segment_head(children)
        headers, rest = rest[0], rest[1:]
        members = None
        if rest and isinstance(rest[0], tuple) and rest[0] and rest[0][0] == "members":
            members = rest.pop(0)[1]
        table_meta = Span(headers[0].span.start, meta.end_pos)
        table = self._node(ast.Table, table_meta, headers, tuple(rest), members=members)
        return self._node(ast.Segment, meta, name, label, hit, (), table)

    def _rule_head(self, children):
        member = self._ident(children[0])
        label = _unquote(children[1]) if len(children) > 1 and isinstance(children[1], Token) and children[1].type == "TEXT" else None
        return member, label

    def seg_rule(self, meta, children):
        member, label = self._rule_head(children)
        return self._node(ast.SegRule, meta, member, label, children[-1])

    def seg_otherwise(self, meta, children):
        member, label = self._rule_head(children)
        return self._node(ast.SegRule, meta, member, label, None)

    def members(self, meta, children):
        return ("members", tuple(children))

    def member(self, meta, children):
        return (self._ident(children[0]), _unquote(children[1]) if len(children) > 1 else None)

    def seg_row(self, meta, children):
        label = _unquote(children[2]) if len(children) > 2 else None
        return self._node(ast.Row, meta, children[0], member=self._ident(children[1]), label=label)

    def cells(self, meta, children):
        return tuple(children)

    def cell_any(self, meta, children):
        return self._node(ast.Cell, meta, ())

    def cell_not(self, meta, children):
        return self._node(ast.Cell, meta, children[0], negated=True)

    def cell_tests(self, meta, children):
        return self._node(ast.Cell, meta, children[0])

    def tests(self, meta, children):
        return tuple(children)

    def test_cmp(self, meta, children):
        return self._node(ast.Test, meta, str(children[0].children[0]), children[1])

    def test_eq(self, meta, children):
        return self._node(ast.Test, meta, "=", children[0])

    def _range(lo_closed, hi_closed):  # noqa: N805
        def build(self, meta, children):
            return self._node(ast.Test, meta, "range", children[0], children[1],
                              low_closed=lo_closed, high_closed=hi_closed)
        return build

    range_cc, range_co = _range(True, True), _range(True, False)
    range_oc, range_oo = _range(False, True), _range(False, False)

    def output(self, meta, children):
        name, type_, mods = self._ident(children[0]), children[1], children[2:]
        optional = bool(mods) and isinstance(mods[0], Token) and mods[0].type == "OPTIONAL"
        if optional:
            mods = mods[1:]
        kw = dict(default=None, combine="first", clamp=None, label=None)
        for kind, value in mods:
            kw[kind] = value
        return self._node(ast.Output, meta, name, type_, optional, kw["default"], kw["combine"], kw["clamp"], kw["label"])

    def strategy_when(self, meta, children):
        return self._node(ast.Strategy, meta, self._ident(children[0]), rules=tuple(children[1:]))

    def strategy_by(self, meta, children):
        tokens = [c for c in children if isinstance(c, Token)]
        rows = tuple(c for c in children if not isinstance(c, Token))
        by = self._ident(tokens[-1])
        name = self._ident(tokens[0]) if len(tokens) == 2 else ast.Ident(f"by_{by.name}", id=next(self._ids), span=by.span)
        return self._node(ast.Strategy, meta, name, by=by, by_rows=rows)

    def strategy_table(self, meta, children):
        name, headers = self._ident(children[0]), children[1]
        targets = tuple(self._ident(t) for t in children[2:] if isinstance(t, Token))
        rows = tuple(c for c in children[2:] if not isinstance(c, Token))
        table = self._node(ast.Table, Span(headers[0].span.start, meta.end_pos), headers, rows, targets=targets)
        return self._node(ast.Strategy, meta, name, table=table)

    def when_rule(self, meta, children):
        return self._node(ast.WhenRule, meta, children[0], tuple(children[1:]))

    def by_row(self, meta, children):
        return self._node(ast.ByRow, meta, self._ident(children[0]), tuple(children[1:]))

    def assign(self, meta, children):
        return self._node(ast.Assign, meta, self._ident(children[0]), children[1])

    def strat_row(self, meta, children):
        return self._node(ast.Row, meta, children[0], results=tuple(children[1:]))

    # -- expressions
    def exprs(self, meta, children):
        return tuple(children)

    def _binary(op):  # noqa: N805
        def build(self, meta, children):
            return self._node(ast.Binary, meta, op, children[0], children[-1])
        return build

    or_, and_, coalesce = _binary("or"), _binary("and"), _binary("??")
    add, sub, mul, div = _binary("+"), _binary("-"), _binary("*"), _binary("/")
    starts_with, ends_with = _binary("starts_with"), _binary("ends_with")
    contains, matches, is_eq = _binary("contains"), _binary("matches"), _binary("=")

    def compare(self, meta, children):
        return self._node(ast.Binary, meta, str(children[1].children[0]), children[0], children[2])

    def is_ne(self, meta, children):
        return self._node(ast.Binary, meta, "!=", children[0], children[1])

    def not_(self, meta, children):
        return self._node(ast.Unary, meta, "not", children[0])

    def neg(self, meta, children):
        return self._node(ast.Unary, meta, "-", children[0])

    def in_list(self, meta, children):
        return self._node(ast.InList, meta, children[0], children[1], False)

    def not_in_list(self, meta, children):
        return self._node(ast.InList, meta, children[0], children[1], True)

    def between(self, meta, children):
        return self._node(ast.Between, meta, *children, False)

    def not_between(self, meta, children):
        return self._node(ast.Between, meta, *children, True)

    def is_missing(self, meta, children):
        return self._node(ast.IsMissing, meta, children[0], False)

    def is_present(self, meta, children):
        return self._node(ast.IsMissing, meta, children[0], True)

    def has(self, meta, children):
        tok = children[1]
        return self._node(ast.Has, meta, children[0], self._node(ast.Name, _tspan(tok), str(tok)))

    def number(self, meta, children):
        tok = children[0]
        return self._node(ast.Number, meta, number_value(tok.value), tok.value)

    def neg_number(self, meta, children):
        tok = children[0]
        return self._node(ast.Number, meta, -number_value(tok.value), "-" + tok.value)

    def _duration(factor):  # noqa: N805
        def build(self, meta, children):
            tok = children[0]
            value = number_value(tok.value)
            if not isinstance(value, int):
                raise _LiteralError(Diagnostic("E003", f"a duration needs a whole number, not `{tok.value}`",
                                               _tspan(tok), help="write e.g. `30 days` or `4 weeks`"))
            return self._node(ast.Duration, meta, value * factor, f"{tok.value}")
        return build

    days, weeks = _duration(1), _duration(7)

    def string(self, meta, children):
        return self._node(ast.String, meta, _unquote(children[0]))

    def date(self, meta, children):
        tok = children[0]
        try:
            value = dt.date.fromisoformat(tok.value)
        except ValueError:
            raise _LiteralError(Diagnostic("E003", f"`{tok.value}` is not a calendar date", _tspan(tok),
                                           help="dates are written YYYY-MM-DD, e.g. 2026-11-22")) from None
        return self._node(ast.DateLit, meta, value)

    def true(self, meta, children):
        return self._node(ast.Bool, meta, True)

    def false(self, meta, children):
        return self._node(ast.Bool, meta, False)

    def today(self, meta, children):
        return self._node(ast.Today, meta)

    def name(self, meta, children):
        return self._node(ast.Name, meta, str(children[0]))

    def call(self, meta, children):
        args = children[1] if len(children) > 1 else ()
        return self._node(ast.Call, meta, self._ident(children[0]), tuple(args))

    def _named_call(fname):  # noqa: N805
        def build(self, meta, children):
            func = ast.Ident(fname, id=next(self._ids), span=Span(meta.start_pos, meta.start_pos + len(fname)))
            return self._node(ast.Call, meta, func, tuple(children[0]))
        return build

    call_min, call_max = _named_call("min"), _named_call("max")
