"""`rules fmt` and engine.format_text: one canonical layout that keeps every comment and never
changes what a policy means (the formatted text parses to the same syntax tree)."""
import os
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine import fmt
from engine.parser import FULL_WIDTH, Branch, concrete_syntax, parse
from engine.source import Source
from test_cli import rules
from test_differential import policies

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "policies").glob("*.rules"))
TWIN = {ascii_: wide for wide, ascii_ in FULL_WIDTH.items() if ascii_ != " "}  # `,` -> `，` …

MESSY = r"""# 客户分层 (golden test)
policy   golden   "黄金测试"   version "1"
input c {   # the record
    id:string key
  消费金额 :number? from "近12个月消费额"    # CJK name
  orders:<TAB>int = 0 "订单数"


  # grade read from the CRM export
  grade : enum(金， 银 ,铜)?   tags:list( string )?
}
let spend=消费金额??<IDEOGRAPHIC SPACE>0 # missing counts as 0
let score = -spend+ (2*orders) /
   3
segment tier "价值等级" {
    A "重要客户" : spend>=10万 and
        orders >= 12   # both
  B "一般" : spend >= 2_000 or grade in [金,银]
  C : otherwise
  }
segment style unique
table (spend, grade) members (big "大客户", small) {
  [1万..10万) | 金 , 银 => big "大客户"
  - | not 铜 => small
  >= 10万 | - => big
}
output discount:number=0 combine sum clamp 0 .. 15%
output note : string?  "备注"   # shown to the agent
                              # on the call screen
strategy pricing { when tier is A then discount = 10% when tier is B and orders>1 then discount=5% , note = "a # not \"a\" comment \d"
  when spend > 1万 and grade is 金
     then discount = 2%
}
strategy by tier { A:note=“重要”  B : note = "一般",
   discount = 1% }
strategy extras table (tier) -> (discount, note) { A => 3%, "甲"
  B => 10%, "乙乙" }
# the end
""".replace("<TAB>", "\t").replace("<IDEOGRAPHIC SPACE>", "\u3000")

GOLDEN = r"""# 客户分层 (golden test)
policy golden "黄金测试"
version "1"

input c {   # the record
  id       : string   key
  消费金额 : number?  from "近12个月消费额"  # CJK name
  orders   : int = 0  "订单数"

  # grade read from the CRM export
  grade : enum(金, 银, 铜)?
  tags  : list(string)?
}

let spend = 消费金额 ?? 0  # missing counts as 0
let score = -spend + (2 * orders) /
            3

segment tier "价值等级" {
  A "重要客户" : spend >= 10万 and
                 orders >= 12   # both
  B "一般"     : spend >= 2_000 or grade in [金, 银]
  C            : otherwise
}

segment style unique
table (spend, grade) members (big "大客户", small) {
  [1万..10万) | 金, 银 => big "大客户"
  -           | not 铜 => small
  >= 10万     | -      => big
}

output discount : number = 0 combine sum clamp 0 .. 15%
output note     : string? "备注"  # shown to the agent
                                  # on the call screen

strategy pricing {
  when tier is A                then discount = 10%
  when tier is B and orders > 1 then discount = 5%, note = "a # not \"a\" comment \d"
  when spend > 1万 and grade is 金
    then discount = 2%
}

strategy by tier {
  A : note = "重要"
  B : note = "一般",
      discount = 1%
}

strategy extras table (tier) -> (discount, note) {
  A => 3%,  "甲"
  B => 10%, "乙乙"
}
# the end
"""


def tree(text: str):
    """The syntax tree, spans and ids aside (ast nodes leave them out of ==)."""
    return parse(Source(text))


def comments(text: str) -> list[str]:
    return [c.text.rstrip() for c in concrete_syntax(Source(text))[1]]


def leaves(node) -> list:
    return [leaf for child in node.children for leaf in leaves(child)] if isinstance(node, Branch) else [node]


def scramble(text: str, rnd: random.Random, vertical: bool = True) -> str:
    """The same policy written differently: other spaces, tabs, line breaks, blank lines, comments and
    full-width punctuation between its tokens; the tokens themselves, and so the meaning, unchanged.

    With `vertical` off, only the spacing inside lines without comments changes (and full-width
    punctuation there), which the canonical layout must undo completely.
    """
    syntax, _ = concrete_syntax(Source(text))
    toks = leaves(syntax)
    out = [text[:toks[0].start]]
    for a, b in zip(toks, toks[1:] + [None]):
        line = text[text.rfind("\n", 0, a.start) + 1:text.find("\n", a.start) % (len(text) + 1)]
        quiet = vertical or "#" not in line  # a line whose comment column is left alone
        word = a.text
        if quiet and a.kind == "TEXT" and not re.search(r'["“”\\]', word[1:-1]) and rnd.random() < 0.1:
            word = f"“{word[1:-1]}”"
        elif quiet and all(ch in TWIN for ch in word) and rnd.random() < 0.15:
            word = "".join(TWIN[ch] for ch in word)
        out.append(word)
        gap = text[a.end:b.start] if b is not None else text[a.end:]
        if b is None or "#" in gap or not quiet:
            out.append(gap)
        elif "\n" in gap:
            out.append(rnd.choice(["\n", "\n\n", "\n \n\n", "  \n\t ", "\n      "]) if vertical else gap)
        elif vertical and b.kind != "ROW_LABEL" and rnd.random() < 0.15:  # a label must stay on its row's line
            out.append(rnd.choice(["\n", "  # 注释 note\n", "\n\n  ", " #\n", "\n# own line\n  "]))
        else:
            out.append(rnd.choice([" ", "  ", "\t", "\u3000 "]) if gap else rnd.choice(["", " "]))
    return "".join(out)


def check_layout(out: str) -> None:
    """What every formatted text looks like, whatever the input."""
    assert out.endswith("\n") and not out.endswith("\n\n") and not out.startswith("\n")
    assert "\r" not in out and "\n\n\n" not in out
    for line in out.split("\n"):
        assert line == line.rstrip(), repr(line)
        code = line.split("#")[0]
        assert "\t" not in code and "\u3000" not in code or '"' in code, repr(line)
    assert not re.search(r"\{\n\n|\n\n *\}", out)


# ---- the layout ------------------------------------------------------------------------------

def test_a_messy_policy_gets_the_canonical_layout():
    assert engine.format_text(MESSY) == GOLDEN


def test_golden_is_a_fixed_point_and_means_the_same():
    assert engine.format_text(GOLDEN) == GOLDEN
    assert tree(GOLDEN) == tree(MESSY)
    assert comments(GOLDEN) == comments(MESSY)


def test_windows_line_ends_become_unix_ones():
    assert engine.format_text(MESSY.replace("\n", "\r\n")) == GOLDEN
    assert engine.format_text(GOLDEN.replace("\n", "\r\n")) == GOLDEN


def test_items_written_on_one_line_get_one_line_each():
    text = ('policy p version "1" input c { x : int  名称 : string? "名称" } let y = x * 2 let z = y '
            'segment s { a "甲" : y > 1  bb : otherwise } output o : int = 0 strategy by s { a : o = 1  bb : o = 2 }')
    assert engine.format_text(text) == (
        'policy p\nversion "1"\n\ninput c {\n  x    : int\n  名称 : string?  "名称"\n}\n\n'
        'let y = x * 2\nlet z = y\n\nsegment s {\n  a  "甲" : y > 1\n  bb      : otherwise\n}\n\n'
        'output o : int = 0\n\nstrategy by s {\n  a  : o = 1\n  bb : o = 2\n}\n')


def test_spacing_of_operators_and_literals_as_written():
    text = ('policy p version "1"\ninput c { x : number  d : date  s : string }\n'
            'let a = - - x+-3*(x-1_000)/ 1.5亿\nlet b = d+30 days>= 2026-01-31 and s matches "\\d+\\"" '
            'and x not in[1,2]and not(x between 10% and 1万)\n'
            'segment t table(x,s){[1..5]|"a","b"=>m\n(0 .. 2) | not "c" => m}\n')
    out = engine.format_text(text)
    assert "let a = - -x + -3 * (x - 1_000) / 1.5亿\n" in out
    assert 'let b = d + 30 days >= 2026-01-31 and s matches "\\d+\\"" and x not in [1, 2] and not (x between 10% and 1万)\n' in out
    assert 'segment t table (x, s) {\n  [1..5] | "a", "b" => m\n  (0..2) | not "c"  => m\n}\n' in out


def test_a_string_on_the_next_line_after_a_row_is_not_made_its_label():
    text = 'policy p version "1"\ninput c { s : string }\nsegment t table (s) {\n  "a" => m\n  "b" => n "标签"\n}\n'
    out = engine.format_text(text)
    assert out.endswith('segment t table (s) {\n  "a" => m\n  "b" => n "标签"\n}\n')
    assert tree(out) == tree(text)


def test_blank_lines_collapse_and_alignment_groups_restart_after_one():
    text = ('policy p version "1"\n\n\n\ninput c {\n\n  a : int\n  bbbb : int\n\n\n\n  cc : int = 1 "c"\n\n}\n'
            'let x = 1\n\n\nlet y = 2\nlet z = 3\n\n\n\n# the end\n')
    assert engine.format_text(text) == (
        'policy p\nversion "1"\n\ninput c {\n  a    : int\n  bbbb : int\n\n  cc : int = 1  "c"\n}\n\n'
        'let x = 1\n\nlet y = 2\nlet z = 3\n\n# the end\n')


def test_comments_inside_an_item_that_becomes_one_line_move_above_it():
    text = ('policy p version "1"\ninput c {\n  x :   # the amount\n     int\n}\n'
            'segment s table (x) {\n  1 |  # first\n  # second\n  2 => a\n}\n')
    out = engine.format_text(text)
    assert "input c {\n  # the amount\n  x : int\n}" in out
    assert "segment s table (x) {\n  # first\n  # second\n  1 | 2 => a\n}" in out


def test_a_trailing_comment_keeps_its_column_while_the_code_leaves_room():
    text = ('policy p version "1"\ninput c { x : int }\nlet a = x                 # here\n'
            'let bb=x+1                # and here\nlet ccc=x+x+x+x+x+x+x+x+x # pushed\n')
    out = engine.format_text(text)
    assert "let a = x                 # here\nlet bb = x + 1            # and here\n" in out
    assert "let ccc = x + x + x + x + x + x + x + x + x  # pushed\n" in out


def test_policies_that_do_not_parse_raise_the_usual_diagnostics():
    with pytest.raises(engine.PolicyError) as err:
        engine.format_text('policy p version "1"\ninput c { x : int }\nsegment s { a : x > }\n', "bad.rules")
    assert [d.code for d in err.value.diagnostics] == ["E001"] and "bad.rules:3:21" in err.value.render()
    with pytest.raises(engine.PolicyError) as err:
        engine.format_text('policy p version "1"\ninput c { d : date }\nlet x = d > 2026-02-30\n')
    assert [d.code for d in err.value.diagnostics] == ["E003"]


def test_a_layout_that_would_change_the_meaning_is_refused(monkeypatch):
    """The formatter re-parses its result: a printer bug can never reach a file."""
    render = fmt._Printer.render
    monkeypatch.setattr(fmt._Printer, "render", lambda self, comments: render(self, comments).replace(">= 12", ">= 13"))
    with pytest.raises(RuntimeError, match="would change what it means"):
        engine.format_text(MESSY, "messy.rules")


# ---- the shipped policies ------------------------------------------------------------------

@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_policies_are_in_the_canonical_layout(path):
    text = path.read_text(encoding="utf-8")
    assert engine.format_text(text, str(path)) == text


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_spacing_within_lines_never_matters(path):
    text = path.read_text(encoding="utf-8")
    for seed in range(3):
        scrambled = scramble(text, random.Random(seed), vertical=False)
        assert scrambled != text
        assert engine.format_text(scrambled) == text


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_policies_rewritten_keep_meaning_and_comments(path):
    text = path.read_text(encoding="utf-8")
    for seed in range(3):
        scrambled = scramble(text, random.Random(seed))
        out = engine.format_text(scrambled)
        assert tree(out) == tree(text)
        assert comments(out) == comments(scrambled)
        assert engine.format_text(out) == out
        check_layout(out)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(policies(), st.randoms(use_true_random=False))
def test_generated_policies_keep_meaning_and_comments(text, rnd):
    scrambled = scramble(text, rnd)
    out = engine.format_text(scrambled)
    assert tree(out) == tree(text)
    assert comments(out) == comments(scrambled)
    assert engine.format_text(out) == out
    check_layout(out)


# ---- rules fmt -------------------------------------------------------------------------------

def test_fmt_check_diff_and_rewrite(tmp_path):
    messy, tidy = tmp_path / "messy.rules", tmp_path / "tidy.rules"
    messy.write_text(MESSY, encoding="utf-8")
    tidy.write_text(GOLDEN, encoding="utf-8")

    out = rules("fmt", "--check", tmp_path)
    assert out.returncode == 1, out.stderr
    assert f"would reformat {messy}" in out.stderr and str(tidy) not in out.stderr
    assert "1 file would be reformatted, 1 would be left unchanged" in out.stderr
    assert messy.read_text(encoding="utf-8") == MESSY

    out = rules("fmt", "--diff", messy)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"--- {messy}\n+++ {messy} (formatted)\n@@")
    assert "\n-policy   golden   \"黄金测试\"   version \"1\"\n+policy golden \"黄金测试\"\n+version \"1\"\n" in out.stdout
    assert messy.read_text(encoding="utf-8") == MESSY

    out = rules("fmt", tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"reformatted {messy}" in out.stderr and "1 file reformatted, 1 left unchanged" in out.stderr
    assert messy.read_text(encoding="utf-8") == GOLDEN

    out = rules("fmt", "--check", messy, tidy)
    assert out.returncode == 0 and "2 files would be left unchanged" in out.stderr
    assert rules("fmt", "--diff", messy).stdout == ""


def test_fmt_reports_a_broken_policy_and_formats_the_others(tmp_path):
    broken = tmp_path / "broken.rules"
    broken.write_text('policy p version "1"\ninput c { x : int }\nsegment s { a : x > }\n', encoding="utf-8")
    messy = tmp_path / "messy.rules"
    messy.write_text(MESSY, encoding="utf-8")
    out = rules("fmt", tmp_path)
    assert out.returncode == 2
    assert "error[E001]" in out.stderr and f"{broken}:3:21" in out.stderr and "^" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "1 file reformatted, 1 not formatted because of the errors above" in out.stderr
    assert broken.read_text(encoding="utf-8").endswith("{ a : x > }\n") and messy.read_text(encoding="utf-8") == GOLDEN
    assert rules("fmt", "--check", broken).returncode == 2
    missing = rules("fmt", tmp_path / "nope.rules")
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr


def test_fmt_keeps_the_file_encoding_and_permissions(tmp_path):
    gbk, bom = tmp_path / "gbk.rules", tmp_path / "bom.rules"
    gbk.write_bytes(MESSY.encode("gbk"))
    bom.write_bytes(b"\xef\xbb\xbf" + MESSY.replace("\n", "\r\n").encode("utf-8"))
    os.chmod(gbk, 0o640)
    out = rules("fmt", gbk, bom)
    assert out.returncode == 0, out.stderr
    assert gbk.read_bytes() == GOLDEN.encode("gbk") and os.stat(gbk).st_mode & 0o777 == 0o640
    assert bom.read_bytes() == b"\xef\xbb\xbf" + GOLDEN.encode("utf-8")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_the_shipped_policies_pass_fmt_check(tmp_path):
    out = rules("fmt", "--check", ROOT / "policies")
    assert out.returncode == 0, out.stderr
    assert f"{len(SHIPPED)} files would be left unchanged" in out.stderr
