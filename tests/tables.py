"""Typed tables of the shipped examples, as a warehouse would hold them, for the engines the SQL runs on."""
import json
import shutil
import tempfile
from pathlib import Path

import engine
from engine.records import RecordError, validate

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted(p.stem for p in (ROOT / "examples").glob("*.csv") if (ROOT / "policies" / f"{p.stem}.rules").exists())
DUCK_TYPES = {"int": "BIGINT", "number": "DOUBLE", "bool": "BOOLEAN", "string": "TEXT", "date": "DATE",
              "enum": "TEXT", "list": "VARCHAR[]"}


def example(name: str) -> Path:
    return ROOT / "examples" / ("cdnow_customers.csv" if name == "rfm" else f"{name}.csv")


def table_columns(policy: engine.Policy) -> list[str]:
    """A table's column per field: the `from` name when there is one (what to_sql reads)."""
    return [f.column or f.name for f in policy.plan.fields]


def typed_rows(policy: engine.Policy, records) -> list[dict]:
    """The records that validate, with their typed values: what a warehouse table would hold."""
    rows = []
    for record in records:
        try:
            rows.append(validate(record, policy.plan.fields))
        except RecordError:
            continue
    return rows


def duck_table(duck, policy: engine.Policy, rows: list[dict]) -> None:
    """Table `customers` in a DuckDB connection holding the rows with the fields' SQL types."""
    fields = policy.plan.fields
    names = table_columns(policy)
    # DuckDB takes the same rows from JSON lines with declared types (executemany is slow)
    path = Path(tempfile.mkdtemp(prefix="rules-duck-")) / "rows.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({n: r[fl.name] for n, fl in zip(names, fields)}, default=_iso, ensure_ascii=False) + "\n")
    columns = "{" + ", ".join(f"'{n}': '{DUCK_TYPES[f.type.kind]}'" for n, f in zip(names, fields)) + "}"
    duck.execute(f"CREATE OR REPLACE TABLE customers AS SELECT * FROM read_json(?, format='newline_delimited', "
                 f"columns={columns})", [str(path)])
    shutil.rmtree(path.parent)


def _iso(value):
    return value.isoformat()


