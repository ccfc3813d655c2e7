"""Record files: encodings as Excel in China writes them, malformed files, atomic outputs."""
import datetime as dt
import io

import pytest

import engine

from engine.io import InputFileError, atomic_write, detect_encoding, read_records, write_rows


def test_detects_bom_utf8_and_gbk():
    assert detect_encoding("\ufeffa,b".encode("utf-8")) == "utf-8-sig"
    assert detect_encoding("客户,金额".encode("utf-8")) == "utf-8"
    assert detect_encoding("客户,金额".encode("gbk")) == "gb18030"


def test_gb18030_only_characters_round_trip(tmp_path):
    path = tmp_path / "names.csv"
    path.write_bytes("id,name\n1,𠀀先生\n".encode("gb18030"))  # U+20000 is not in GBK
    assert list(read_records(path)) == [{"id": "1", "name": "𠀀先生"}]


def test_csv_quoting_empty_cells_and_short_rows(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,note,x\n1,"a, b\nc",\n2\n', encoding="utf-8")
    assert list(read_records(path)) == [{"id": "1", "note": "a, b\nc", "x": None},
                                        {"id": "2", "note": None, "x": None}]


@pytest.mark.parametrize("text,words", [
    ("id,id\n1,2\n", "appears twice"),
    ("id,\n1,2\n", "has no name"),
])
def test_bad_csv(tmp_path, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=words):
        list(read_records(path))


def test_a_row_wider_than_the_header_is_rejected_alone(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("id\n1,2\n3\n", encoding="utf-8")
    ragged, fine = list(read_records(path))
    assert fine == {"id": "3"}
    policy = engine.compile_policy('policy p version "1"\ninput c { id : string key }\nsegment s { all_ : otherwise }\n')
    reject = next(policy.evaluate_many([ragged]))
    assert (reject.ok, reject.reason, reject.value) == (False, "line 2: 2 cells but the header has 1", None)


def test_forced_encoding_and_unknown_codec(tmp_path):
    path = tmp_path / "g.csv"
    path.write_bytes("id,名\n1,王\n".encode("gbk"))
    assert list(read_records(path, encoding="gbk")) == [{"id": "1", "名": "王"}]
    with pytest.raises(InputFileError, match="not valid utf-8 at line 1"):
        list(read_records(path, encoding="utf-8"))
    with pytest.raises(InputFileError, match="unknown encoding `klingon`"):
        list(read_records(path, encoding="klingon"))


def test_json_jsonl_and_streams(tmp_path):
    (tmp_path / "a.json").write_text('[{"x": 1}, {"x": 2}]', encoding="utf-8")
    (tmp_path / "o.json").write_text('{"x": 1}', encoding="utf-8")
    (tmp_path / "l.jsonl").write_text('{"x": 1}\n\n{"x": 2}\n', encoding="utf-8")
    assert [r["x"] for r in read_records(tmp_path / "a.json")] == [1, 2]
    assert list(read_records(tmp_path / "o.json")) == [{"x": 1}]
    assert [r["x"] for r in read_records(tmp_path / "l.jsonl")] == [1, 2]
    assert list(read_records(None, stream=io.StringIO('{"x": 3}\n'))) == [{"x": 3}]
    (tmp_path / "bad.json").write_text('[{"x": 1},\n {"x": }]', encoding="utf-8")
    with pytest.raises(InputFileError, match="line 2 column"):
        list(read_records(tmp_path / "bad.json"))
    (tmp_path / "bad.jsonl").write_text('{"x": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(InputFileError, match="line 2"):
        list(read_records(tmp_path / "bad.jsonl"))
    with pytest.raises(InputFileError, match="no such file"):
        list(read_records(tmp_path / "missing.csv"))
    with pytest.raises(InputFileError, match="cannot tell the format"):
        list(read_records(tmp_path / "data.xlsx"))


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_write_then_read_back(tmp_path, fmt):
    rows = [{"k": "客户一", "n": 0.1, "flag": True, "d": dt.date(2026, 11, 22), "tags": ["a", "b"], "none": None}]
    path = tmp_path / f"out.{fmt}"
    assert write_rows(path, rows, list(rows[0]), fmt) == 1
    back = list(read_records(path))[0]
    if fmt == "csv":
        assert back == {"k": "客户一", "n": "0.1", "flag": "true", "d": "2026-11-22", "tags": "a;b", "none": None}
    else:
        assert back == {"k": "客户一", "n": 0.1, "flag": True, "d": "2026-11-22", "tags": ["a", "b"], "none": None}


def test_a_late_non_utf8_row_is_reported_with_its_line(tmp_path):
    path = tmp_path / "late.csv"
    ascii_rows = "".join(f"{i},customer-{i:06d}\n" for i in range(60_000))  # well past the 1 MiB sniffed
    path.write_bytes(b"id,name\n" + ascii_rows.encode() + "60000,王先生\n".encode("gbk"))
    rows = read_records(path)
    assert next(rows) == {"id": "0", "name": "customer-000000"}
    with pytest.raises(InputFileError, match="not valid utf-8 at line 60002; pass --encoding"):
        list(rows)
    assert list(read_records(path, encoding="gb18030"))[-1] == {"id": "60000", "name": "王先生"}
