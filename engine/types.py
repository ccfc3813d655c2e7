"""Value types of the language, widening and compatibility, and how they print in messages."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Type:
    """A value type. `members` for enums and segments; `owner` names the segment; `elem` for lists.

    Kinds: int number bool string date duration enum segment set list. A `set` is the value of an
    `all` segment (the members whose rule holds); `duration` exists only in date arithmetic.
    """

    kind: str
    members: tuple[str, ...] = ()
    owner: str | None = None
    elem: "Type | None" = None

    def __str__(self) -> str:
        if self.kind == "enum":
            return f"enum({', '.join(self.members)})"
        if self.kind == "segment":
            return f"segment `{self.owner}`"
        if self.kind == "set":
            return f"`all` segment `{self.owner}`"
        if self.kind == "list":
            return f"list({self.elem})"
        return self.kind

    @property
    def enumlike(self) -> bool:
        return self.kind in ("enum", "segment", "set")

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "number")

    def to_json(self) -> dict:
        out: dict = {"kind": self.kind}
        if self.members:
            out["members"] = list(self.members)
        if self.owner:
            out["owner"] = self.owner
        if self.elem:
            out["elem"] = self.elem.to_json()
        return out

    @staticmethod
    def from_json(data: dict) -> "Type":
        elem = data.get("elem")
        return Type(data["kind"], tuple(data.get("members", ())), data.get("owner"),
                    Type.from_json(elem) if elem else None)


INT, NUMBER, BOOL, STRING, DATE, DURATION = (Type(k) for k in ("int", "number", "bool", "string", "date", "duration"))
LIST_STRING = Type("list", elem=STRING)


def numeric_join(a: Type, b: Type) -> Type:
    """The type of arithmetic on two numbers: int only when both are ints."""
    return INT if a.kind == b.kind == "int" else NUMBER


def assignable(value: Type, target: Type) -> bool:
    """Whether a value of type `value` may be stored where `target` is declared (int widens to number)."""
    if value == target or (value.kind == "int" and target.kind == "number"):
        return True
    if target.kind == "enum" and value.kind in ("enum", "segment"):
        return set(value.members) <= set(target.members)
    if target.kind == "list" and value.kind == "list":
        return assignable(value.elem, target.elem)
    return False


def equatable(a: Type, b: Type) -> bool:
    """Whether `=` and `!=` may compare the two types."""
    if (a.numeric or a.kind == "duration") and (b.numeric or b.kind == "duration"):
        return True
    if a.kind in ("enum", "segment") and b.kind in ("enum", "segment"):
        return a == b or (a.kind == b.kind == "enum" and set(a.members) == set(b.members))
    return a == b and a.kind in ("bool", "string", "date")


def orderable(a: Type, b: Type) -> bool:
    """Whether `<`, `<=`, `>`, `>=` and `between` may compare the two types."""
    if (a.numeric or a.kind == "duration") and (b.numeric or b.kind == "duration"):
        return True
    return a == b and a.kind in ("string", "date")
