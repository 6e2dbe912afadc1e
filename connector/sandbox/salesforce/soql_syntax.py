"""The SOQL subset the sandbox understands, parsed into a small syntax tree.

The grammar is compiled once, as an LALR parser whose transformer builds the tree while
parsing. Like Salesforce, it refuses to mix AND and OR without parentheses. Names are not
checked here; `soql.py` resolves them against the org's schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedEOF, UnexpectedInput, UnexpectedToken

from connector.sandbox.salesforce.errors import SalesforceError

_GRAMMAR = r"""
    start: "SELECT"i field ("," field)* "FROM"i NAME where? order_by? limit? offset?

    field: NAME ("." NAME)*

    where: "WHERE"i condition
    ?condition: term
        | term ("AND"i term)+                   -> all_of
        | term ("OR"i term)+                    -> any_of
    ?term: "NOT"i term                          -> negation
        | "(" condition ")"
        | field OPERATOR value                  -> comparison
        | field "LIKE"i STRING                  -> like
        | field "IN"i "(" value ("," value)* ")"            -> member
        | field "NOT"i "IN"i "(" value ("," value)* ")"     -> non_member

    ?value: STRING                              -> string
        | NUMBER                                -> number
        | DATE                                  -> date
        | DATETIME                              -> datetime
        | TRUE                                  -> true
        | FALSE                                 -> false
        | NULL                                  -> null
        | DAY                                   -> day
        | N_DAYS ":" INT                        -> n_days

    order_by: "ORDER"i "BY"i order_item ("," order_item)*
    order_item: field DIRECTION? (NULLS FIRST_OR_LAST)?
    limit: "LIMIT"i INT
    offset: "OFFSET"i INT

    NAME: /[a-z_][a-z0-9_]*/i
    OPERATOR: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
    STRING: /'(?:[^'\\]|\\.)*'/s
    DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})/i
    DATE.2: /\d{4}-\d{2}-\d{2}/
    NUMBER: /[+-]?\d+(\.\d+)?/
    INT: /\d+/
    TRUE: "true"i
    FALSE: "false"i
    NULL: "null"i
    DAY: "TODAY"i | "YESTERDAY"i | "TOMORROW"i
    N_DAYS: "LAST_N_DAYS"i | "NEXT_N_DAYS"i
    DIRECTION: "ASC"i | "DESC"i
    NULLS: "NULLS"i
    FIRST_OR_LAST: "FIRST"i | "LAST"i

    %import common.WS
    %ignore WS
"""

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"} | {
    same: same for same in ("'", '"', "\\", "%", "_")
}


@dataclass(frozen=True)
class FieldPath:
    """`Owner.Email` as written, with where it was written for error messages."""

    names: tuple[str, ...]
    line: int
    column: int


@dataclass(frozen=True)
class RelativeDate:
    """TODAY, LAST_N_DAYS:n...: an inclusive range of days, counted from the org's today."""

    first: int  # days from today
    last: int

    def bounds(self, today: date) -> tuple[date, date]:
        return today + timedelta(days=self.first), today + timedelta(days=self.last)


Literal = str | int | float | bool | date | datetime | RelativeDate | None


@dataclass(frozen=True)
class Comparison:
    field: FieldPath
    operator: str  # = != < <= > >=
    value: Literal


@dataclass(frozen=True)
class Membership:
    field: FieldPath
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    field: FieldPath
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Not:
    condition: Condition


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


Condition = Comparison | Membership | Like | Not | AllOf | AnyOf


@dataclass(frozen=True)
class OrderItem:
    field: FieldPath
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Select:
    fields: tuple[FieldPath, ...]
    sobject: str
    sobject_at: tuple[int, int]  # line, column
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int = 0


def syntax_error(query: str, code: str, message: str, line: int, column: int) -> SalesforceError:
    """Salesforce's query error shape: the offending line, a caret, the position, the reason."""
    text = query.splitlines()[line - 1] if query.strip() else query
    caret = " " * (column - 1) + "^"
    return SalesforceError(
        code, f"\n{text}\n{caret}\nERROR at Row:{line}:Column:{column}\n{message}"
    )


def parse_select(query: str) -> Select:
    """The syntax tree of `query`; SalesforceError(MALFORMED_QUERY) when it does not parse."""
    try:
        return cast(Select, _PARSER.parse(query))  # the transformer builds a Select
    except UnexpectedInput as error:
        raise _malformed(query, error) from None
    except _BadLiteral as error:
        raise syntax_error(query, "MALFORMED_QUERY", str(error), error.line, error.column) from None


class _BadLiteral(ValueError):
    def __init__(self, message: str, token: Token) -> None:
        super().__init__(message)
        self.line, self.column = token.line or 1, token.column or 1


def _malformed(query: str, error: UnexpectedInput) -> SalesforceError:
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        lines = query.splitlines() or [""]
        return syntax_error(
            query, "MALFORMED_QUERY", "unexpected token: '<EOF>'", len(lines), len(lines[-1]) + 1
        )
    if isinstance(error, UnexpectedToken):
        found = str(error.token)
    else:
        found = query[error.pos_in_stream or 0]
    return syntax_error(
        query, "MALFORMED_QUERY", f"unexpected token: '{found}'", error.line, error.column
    )


def _characters(token: Token) -> list[tuple[str, bool]]:
    """A string literal's characters, each with whether it was backslash-escaped."""
    body, characters, index = token[1:-1], [], 0
    while index < len(body):
        if body[index] != "\\":
            characters.append((body[index], False))
            index += 1
            continue
        escaped = body[index + 1]
        if escaped not in _ESCAPES:
            raise _BadLiteral(
                f"Invalid string literal '{body}'. Illegal character sequence "
                f"'\\{escaped}' in string literal.",
                token,
            )
        characters.append((_ESCAPES[escaped], True))
        index += 2
    return characters


def _like_pattern(token: Token) -> re.Pattern[str]:
    """`%` any run of characters, `_` one character, `\\%` and `\\_` themselves."""
    wildcards = {"%": ".*", "_": "."}
    regex = "".join(
        re.escape(char) if escaped or char not in wildcards else wildcards[char]
        for char, escaped in _characters(token)
    )
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


@v_args(inline=True)
class _ToTree(Transformer[Token, Any]):
    """Builds the dataclasses above while the parser reduces each rule."""

    def start(self, *parts: Any) -> Select:
        fields = tuple(p for p in parts if isinstance(p, FieldPath))
        sobject: Token = next(p for p in parts if isinstance(p, Token))
        clauses = dict(p for p in parts if isinstance(p, tuple) and len(p) == 2)
        return Select(
            fields=fields,
            sobject=str(sobject),
            sobject_at=(sobject.line or 1, sobject.column or 1),
            where=clauses.get("where"),
            order_by=clauses.get("order_by", ()),
            limit=clauses.get("limit"),
            offset=clauses.get("offset", 0),
        )

    def field(self, *names: Token) -> FieldPath:
        return FieldPath(tuple(str(n) for n in names), names[0].line or 1, names[0].column or 1)

    def where(self, condition: Condition) -> tuple[str, Condition]:
        return ("where", condition)

    def order_by(self, *items: OrderItem) -> tuple[str, tuple[OrderItem, ...]]:
        return ("order_by", items)

    def order_item(self, field: FieldPath, *tokens: Token) -> OrderItem:
        words = [str(t).upper() for t in tokens]
        descending = "DESC" in words
        nulls_first = "FIRST" in words if "NULLS" in words else not descending
        return OrderItem(field, descending, nulls_first)

    def limit(self, count: Token) -> tuple[str, int]:
        return ("limit", int(count))

    def offset(self, count: Token) -> tuple[str, int]:
        return ("offset", int(count))

    def all_of(self, *conditions: Condition) -> AllOf:
        return AllOf(conditions)

    def any_of(self, *conditions: Condition) -> AnyOf:
        return AnyOf(conditions)

    def negation(self, condition: Condition) -> Not:
        return Not(condition)

    def comparison(self, field: FieldPath, operator: Token, value: Literal) -> Comparison:
        return Comparison(field, "!=" if operator == "<>" else str(operator), value)

    def like(self, field: FieldPath, pattern: Token) -> Like:
        return Like(field, _like_pattern(pattern))

    def member(self, field: FieldPath, *values: Literal) -> Membership:
        return Membership(field, values, negated=False)

    def non_member(self, field: FieldPath, *values: Literal) -> Membership:
        return Membership(field, values, negated=True)

    def string(self, token: Token) -> str:
        return "".join(char for char, _ in _characters(token))

    def number(self, token: Token) -> int | float:
        return float(token) if "." in token else int(token)

    def date(self, token: Token) -> date:
        try:
            return date.fromisoformat(str(token))
        except ValueError:
            raise _BadLiteral(f"invalid date: {token}", token) from None

    def datetime(self, token: Token) -> datetime:
        try:
            return datetime.fromisoformat(str(token).upper())
        except ValueError:
            raise _BadLiteral(f"invalid date: {token}", token) from None

    def true(self, _token: Token) -> bool:
        return True

    def false(self, _token: Token) -> bool:
        return False

    def null(self, _token: Token) -> None:
        return None

    def day(self, token: Token) -> RelativeDate:
        offset = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}[token.upper()]
        return RelativeDate(offset, offset)

    def n_days(self, direction: Token, count: Token) -> RelativeDate:
        """LAST_N_DAYS:n includes today and the n days before it; NEXT_N_DAYS:n starts
        tomorrow."""
        n = int(count)
        return RelativeDate(-n, 0) if direction.upper() == "LAST_N_DAYS" else RelativeDate(1, n)


_PARSER = Lark(_GRAMMAR, parser="lalr", transformer=_ToTree(), maybe_placeholders=False)
