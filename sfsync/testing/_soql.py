"""The SOQL subset FakeSalesforce understands: parser, type checks against the schema, evaluation.

Supported: ``SELECT`` field lists with parent relationship paths (``Account.Name``,
``Owner.UserRole.Name``), ``COUNT()`` and ``COUNT(field) [alias]``; ``FROM`` one object; ``WHERE``
with ``= != <> < > <= >= IN NOT IN LIKE INCLUDES EXCLUDES AND OR NOT`` and parentheses; string,
number, boolean, null, date and datetime literals; ``ORDER BY`` several fields ``ASC|DESC NULLS
FIRST|LAST``; ``LIMIT``; ``OFFSET``. Anything else is answered with ``MALFORMED_QUERY`` — never
silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NoReturn

from sfsync.testing._schema import NUMBER_TYPES, FieldSchema, ObjectSchema, OrgSchema
from sfsync.testing._values import is_id_shaped, normalize_id, parse_date, parse_datetime

__all__ = ["Comparison", "Query", "SoqlError", "parse_soql"]

MAX_SOQL_LENGTH = 100_000


class SoqlError(Exception):
    """A query Salesforce would refuse: ``error_code`` is MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<colon>:)
    """,
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class _StringLiteral:
    text: str
    like_regex: str


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: Any
    pos: int


@dataclass(frozen=True)
class Path:
    """A field reached from the queried object: relationships then the final field."""

    parts: tuple[str, ...]  # canonical names: relationship names..., field name
    steps: tuple[FieldSchema, ...]  # the reference field followed at each relationship
    target: FieldSchema  # the final field
    objects: tuple[ObjectSchema, ...]  # the object of each level (len(parts))


@dataclass(frozen=True)
class Comparison:
    path: Path
    op: str  # = != < > <= >= IN NOT IN LIKE INCLUDES EXCLUDES
    value: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND OR NOT
    items: tuple[Any, ...]


@dataclass(frozen=True)
class OrderItem:
    path: Path
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class CountItem:
    path: Path | None
    alias: str | None


@dataclass
class Query:
    sobject: ObjectSchema
    select: list[Path] = field(default_factory=list)
    count: CountItem | None = None
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None

    @property
    def count_only(self) -> bool:
        return self.count is not None and self.count.path is None


def _unescape(body: str, pos: int, soql: str, *, like: bool = False) -> str:
    """Decode SOQL escapes. With ``like``, return a regular expression for the LIKE pattern."""
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            nxt = body[index + 1] if index + 1 < len(body) else ""
            if nxt in _ESCAPES:
                literal = _ESCAPES[nxt]
            elif nxt in ("_", "%"):
                literal = nxt
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[index + 2 : index + 6]):
                literal = chr(int(body[index + 2 : index + 6], 16))
                index += 4
            else:
                raise SoqlError("MALFORMED_QUERY", _located(soql, pos + index, "Invalid string literal"))
            out.append(re.escape(literal) if like else literal)
            index += 2
            continue
        if like:
            out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _located(soql: str, pos: int, message: str) -> str:
    # Salesforce points at the offending column: "ERROR at Row:1:Column:N".
    line_start = soql.rfind("\n", 0, pos) + 1
    row = soql.count("\n", 0, pos) + 1
    return (
        f"\n{soql.strip()}\n{' ' * max(pos - line_start, 0)}^\nERROR at Row:{row}:Column:{pos - line_start + 1}\n"
        f"{message}"
    )


def _tokenize(soql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN_RE.match(soql, pos)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", _located(soql, pos, f"unexpected token: '{soql[pos]}'"))
        kind = match.lastgroup or ""
        text = match.group()
        if kind != "ws":
            value: Any = text
            if kind == "string":
                value = _StringLiteral(
                    _unescape(text[1:-1], pos + 1, soql), _unescape(text[1:-1], pos + 1, soql, like=True)
                )
            elif kind == "number":
                value = Decimal(text)
            elif kind == "datetime":
                value = parse_datetime(text)
                if value is None:
                    raise SoqlError("MALFORMED_QUERY", _located(soql, pos, f"invalid date/time: {text}"))
            elif kind == "date":
                value = parse_date(text)
                if value is None:
                    raise SoqlError("MALFORMED_QUERY", _located(soql, pos, f"invalid date: {text}"))
            tokens.append(_Token(kind, text, value, pos))
        pos = match.end()
    tokens.append(_Token("eof", "<EOF>", None, len(soql)))
    return tokens


class _Parser:
    def __init__(self, soql: str, schema: OrgSchema) -> None:
        self.soql = soql
        self.schema = schema
        self.tokens = _tokenize(soql)
        self.index = 0

    # -- token helpers ----------------------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "name" and self.tok.text.upper() in words

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            self.fail(f"unexpected token: '{self.tok.text}'")
        self.advance()

    def expect_punct(self, char: str) -> None:
        if not (self.tok.kind == "punct" and self.tok.text == char):
            self.fail(f"unexpected token: '{self.tok.text}'")
        self.advance()

    def fail(self, message: str, code: str = "MALFORMED_QUERY", token: _Token | None = None) -> NoReturn:
        at = (token or self.tok).pos
        raise SoqlError(code, _located(self.soql, at, message))

    # -- grammar ----------------------------------------------------------------------------
    def parse(self) -> Query:
        self.expect_kw("SELECT")
        raw_select: list[tuple[str, _Token]] = []
        count_raw: tuple[str | None, str | None, _Token] | None = None
        while True:
            token = self.tok
            if self.is_kw("COUNT") and self.tokens[self.index + 1].text == "(":
                self.advance()
                self.advance()
                inner: str | None = None
                if self.tok.kind == "name":
                    inner = self.advance().text
                self.expect_punct(")")
                alias: str | None = None
                if self.tok.kind == "name" and not self.is_kw("FROM"):
                    alias = self.advance().text
                count_raw = (inner, alias, token)
            elif token.kind == "name" and not self.is_kw("FROM"):
                raw_select.append((self.advance().text, token))
            elif token.kind == "punct" and token.text == "(":
                self.fail("FakeSalesforce does not support child relationship subqueries")
            else:
                self.fail(f"unexpected token: '{token.text}'")
            if self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                continue
            break
        self.expect_kw("FROM")
        obj_token = self.tok
        if obj_token.kind != "name" or "." in obj_token.text:
            self.fail(f"unexpected token: '{obj_token.text}'")
        self.advance()
        sobject = self.schema.get(obj_token.text)
        if sobject is None:
            self.fail(
                f"sObject type '{obj_token.text}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
                code="INVALID_TYPE",
                token=obj_token,
            )
        assert sobject is not None
        query = Query(sobject=sobject)
        if count_raw is not None and raw_select:
            self.fail("Field must be grouped or aggregated: " + raw_select[0][0], token=raw_select[0][1])
        if count_raw is not None:
            inner, alias, token = count_raw
            query.count = CountItem(self.resolve(sobject, inner, token) if inner else None, alias)
        query.select = [self.resolve(sobject, text, token) for text, token in raw_select]
        if self.is_kw("WHERE"):
            self.advance()
            query.where = self.parse_or(sobject)
        if self.is_kw("GROUP", "HAVING", "WITH", "FOR", "USING"):
            self.fail(f"FakeSalesforce does not support {self.tok.text.upper()}")
        if self.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            while True:
                token = self.tok
                if token.kind != "name":
                    self.fail(f"unexpected token: '{token.text}'")
                path = self.resolve(sobject, self.advance().text, token)
                descending = False
                if self.is_kw("ASC", "DESC"):
                    descending = self.advance().text.upper() == "DESC"
                nulls_first = not descending
                if self.is_kw("NULLS"):
                    self.advance()
                    if not self.is_kw("FIRST", "LAST"):
                        self.fail(f"unexpected token: '{self.tok.text}'")
                    nulls_first = self.advance().text.upper() == "FIRST"
                query.order_by.append(OrderItem(path, descending, nulls_first))
                if self.tok.kind == "punct" and self.tok.text == ",":
                    self.advance()
                    continue
                break
        if self.is_kw("LIMIT"):
            self.advance()
            query.limit = self.parse_int()
        if self.is_kw("OFFSET"):
            self.advance()
            query.offset = self.parse_int()
            if query.offset > 2000:
                self.fail("Maximum SOQL offset allowed is 2000", code="NUMBER_OUTSIDE_VALID_RANGE")
        if self.tok.kind != "eof":
            self.fail(f"unexpected token: '{self.tok.text}'")
        return query

    def parse_int(self) -> int:
        token = self.tok
        if token.kind != "number" or not token.text.isdigit():
            self.fail(f"unexpected token: '{token.text}'")
        self.advance()
        return int(token.text)

    def parse_or(self, sobject: ObjectSchema) -> Any:
        items = [self.parse_and(sobject)]
        while self.is_kw("OR"):
            self.advance()
            items.append(self.parse_and(sobject))
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def parse_and(self, sobject: ObjectSchema) -> Any:
        items = [self.parse_not(sobject)]
        while self.is_kw("AND"):
            self.advance()
            items.append(self.parse_not(sobject))
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def parse_not(self, sobject: ObjectSchema) -> Any:
        if self.is_kw("NOT"):
            self.advance()
            return BoolOp("NOT", (self.parse_not(sobject),))
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.advance()
            inner = self.parse_or(sobject)
            self.expect_punct(")")
            return inner
        return self.parse_comparison(sobject)

    def parse_comparison(self, sobject: ObjectSchema) -> Comparison:
        token = self.tok
        if token.kind != "name":
            self.fail(f"unexpected token: '{token.text}'")
        path = self.resolve(sobject, self.advance().text, token)
        op_token = self.tok
        if op_token.kind == "op":
            op = "!=" if op_token.text == "<>" else op_token.text
            self.advance()
            value = self.parse_literal(path)
        elif self.is_kw("LIKE"):
            self.advance()
            op = "LIKE"
            lit = self.tok
            if lit.kind != "string":
                self.fail(f"unexpected token: '{lit.text}'")
            if path.target.type not in ("string", "textarea", "email", "url", "phone", "picklist", "id", "reference"):
                self.fail(f"invalid operator on {path.target.type} field: LIKE", code="INVALID_FIELD", token=op_token)
            value = self.advance().value.like_regex
        elif self.is_kw("IN", "NOT", "INCLUDES", "EXCLUDES"):
            word = self.advance().text.upper()
            if word == "NOT":
                self.expect_kw("IN")
                word = "NOT IN"
            if word in ("INCLUDES", "EXCLUDES") and path.target.type != "multipicklist":
                self.fail(
                    f"{word} can only be used on multi-select picklist fields", code="INVALID_FIELD", token=op_token
                )
            op = word
            self.expect_punct("(")
            if self.is_kw("SELECT"):
                self.fail("FakeSalesforce does not support semi-join subqueries")
            values: list[Any] = []
            while True:
                values.append(self.parse_literal(path))
                if self.tok.kind == "punct" and self.tok.text == ",":
                    self.advance()
                    continue
                break
            self.expect_punct(")")
            value = tuple(values)
        else:
            self.fail(f"unexpected token: '{op_token.text}'")
        return Comparison(path, op, value)

    def parse_literal(self, path: Path) -> Any:
        token = self.tok
        kind = path.target.type
        label = path.target.name
        if token.kind == "name" and token.text.upper() in ("TRUE", "FALSE", "NULL"):
            self.advance()
            word = token.text.upper()
            if word == "NULL":
                return None
            if kind != "boolean":
                self.fail(
                    f"value of filter criterion for field '{label}' must be of type "
                    f"{_soap(kind)} and should be enclosed in quotes",
                    code="INVALID_FIELD",
                    token=token,
                )
            return word == "TRUE"
        if token.kind not in ("string", "number", "date", "datetime"):
            return self.fail(f"unexpected token: '{token.text}'")
        self.advance()
        expected = {
            "boolean": ("name",),
            "date": ("date",),
            "datetime": ("datetime",),
        }.get(kind, ("number",) if kind in NUMBER_TYPES else ("string",))
        if token.kind not in expected:
            quoted = "should be enclosed in quotes" if expected == ("string",) else "should not be enclosed in quotes"
            self.fail(
                f"value of filter criterion for field '{label}' must be of type {_soap(kind)} and {quoted}",
                code="INVALID_FIELD",
                token=token,
            )
        if token.kind == "string":
            text = token.value.text
            if kind in ("id", "reference"):
                if not is_id_shaped(text):
                    self.fail(f"invalid ID field: {text}", code="INVALID_QUERY_FILTER_OPERATOR", token=token)
                return normalize_id(text)
            return text
        return token.value

    def resolve(self, sobject: ObjectSchema, text: str, token: _Token) -> Path:
        parts = text.split(".")
        # A path may start with the object's own name: SELECT Account.Name FROM Account.
        if len(parts) > 1 and parts[0].lower() == sobject.name.lower() and sobject.relationship(parts[0]) is None:
            parts = parts[1:]
        current = sobject
        steps: list[FieldSchema] = []
        names: list[str] = []
        objects: list[ObjectSchema] = [sobject]
        for part in parts[:-1]:
            ref = current.relationship(part)
            if ref is None:
                self.fail(
                    self._no_such(text if len(parts) > 1 else part, current, relation=True),
                    code="INVALID_FIELD",
                    token=token,
                )
            assert ref is not None
            target_obj = self.schema.get(ref.reference_to[0])
            assert target_obj is not None
            steps.append(ref)
            names.append(ref.effective_relationship_name or part)
            current = target_obj
            objects.append(current)
        final = current.field(parts[-1])
        if final is None:
            self.fail(self._no_such(parts[-1], current, relation=len(parts) > 1), code="INVALID_FIELD", token=token)
        assert final is not None
        names.append(final.name)
        return Path(tuple(names), tuple(steps), final, tuple(objects))

    @staticmethod
    def _no_such(name: str, obj: ObjectSchema, *, relation: bool) -> str:
        if relation and "." in name:
            rel = name.split(".", maxsplit=1)[0]
            return (
                f"Didn't understand relationship '{rel}' in field path. If you are attempting "
                "to use a custom relationship, be sure to append the '__r' after the custom relationship "
                "name. Please reference your WSDL or the describe call for the appropriate names."
            )
        return (
            f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, "
            "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
            "describe call for the appropriate names."
        )


def _soap(kind: str) -> str:
    return {
        "int": "int",
        "double": "double",
        "currency": "double",
        "percent": "double",
        "date": "date",
        "datetime": "dateTime",
        "boolean": "boolean",
    }.get(kind, "string")


def parse_soql(soql: str, schema: OrgSchema) -> Query:
    """Parse ``soql`` and check every name against ``schema``; raises :class:`SoqlError`."""
    if len(soql) > MAX_SOQL_LENGTH:
        raise SoqlError("MALFORMED_QUERY", f"SOQL statements cannot be longer than {MAX_SOQL_LENGTH} characters.")
    if not soql.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    return _Parser(soql, schema).parse()


# -- evaluation -------------------------------------------------------------------------------

Lookup = Callable[[str, str], Mapping[str, Any] | None]


def resolve_value(record: Mapping[str, Any], path: Path, lookup: Lookup) -> Any:
    current: Mapping[str, Any] | None = record
    for step, obj in zip(path.steps, path.objects[1:], strict=True):
        if current is None:
            return None
        ref_id = current.get(step.name)
        current = lookup(obj.name, ref_id) if ref_id else None
    if current is None:
        return None
    return current.get(path.target.name)


def _comparable(spec: FieldSchema, value: Any) -> Any:
    """Stored value -> the form literals compare against (instants drop their milliseconds)."""
    if value is None:
        return None
    kind = spec.type
    if kind == "datetime":
        moment = parse_datetime(value) if isinstance(value, str) else value
        return moment.replace(microsecond=0) if isinstance(moment, datetime) else None
    if kind == "date":
        return parse_date(value) if isinstance(value, str) else value
    if kind in NUMBER_TYPES:
        return Decimal(str(value))
    if kind == "boolean":
        return bool(value)
    if kind in ("id", "reference"):
        return str(value)
    return str(value).lower()


def _literal(spec: FieldSchema, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    if isinstance(value, date | bool | Decimal):
        return value
    if spec.type in ("id", "reference"):
        return str(value)
    return str(value).lower()


def _like(regex: str, text: str) -> bool:
    return re.fullmatch(regex, text, flags=re.IGNORECASE | re.DOTALL) is not None


def _compare(cmp: Comparison, record: Mapping[str, Any], lookup: Lookup) -> bool:
    spec = cmp.path.target
    raw = resolve_value(record, cmp.path, lookup)
    if cmp.op == "LIKE":
        return raw is not None and _like(str(cmp.value), str(raw))
    if cmp.op in ("INCLUDES", "EXCLUDES"):
        present = {part.lower() for part in str(raw or "").split(";") if part}
        hit = any({p.lower() for p in str(item).split(";") if p} <= present and item for item in cmp.value)
        return hit if cmp.op == "INCLUDES" else not hit
    left = _comparable(spec, raw)
    if spec.type == "multipicklist" and cmp.op in ("=", "!=", "IN", "NOT IN"):
        left = frozenset(str(raw or "").lower().split(";")) - {""} if raw is not None else None

        def norm(v: Any) -> Any:
            return None if v is None else frozenset(str(v).lower().split(";")) - {""}
    else:

        def norm(v: Any) -> Any:
            return _literal(spec, v)

    if cmp.op in ("IN", "NOT IN"):
        values = [norm(v) for v in cmp.value]
        hit = left in values
        return hit if cmp.op == "IN" else not hit
    right = norm(cmp.value)
    if cmp.op == "=":
        return bool(left == right)
    if cmp.op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if cmp.op == "<":
            return bool(left < right)
        if cmp.op == ">":
            return bool(left > right)
        if cmp.op == "<=":
            return bool(left <= right)
        return bool(left >= right)
    except TypeError:
        return False


def matches(expr: Any, record: Mapping[str, Any], lookup: Lookup) -> bool:
    if expr is None:
        return True
    if isinstance(expr, Comparison):
        return _compare(expr, record, lookup)
    if expr.op == "AND":
        return all(matches(item, record, lookup) for item in expr.items)
    if expr.op == "OR":
        return any(matches(item, record, lookup) for item in expr.items)
    return not matches(expr.items[0], record, lookup)


def sort_records(query: Query, rows: Sequence[Mapping[str, Any]], lookup: Lookup) -> list[Mapping[str, Any]]:
    ordered = list(rows)
    # Python's sort is stable: apply keys from the last to the first.
    for item in reversed(query.order_by):
        keyed = [(_comparable(item.path.target, resolve_value(r, item.path, lookup)), r) for r in ordered]
        present = [pair for pair in keyed if pair[0] is not None]
        missing = [pair[1] for pair in keyed if pair[0] is None]
        present.sort(key=lambda pair: pair[0], reverse=item.descending)
        ordered = (missing + [p[1] for p in present]) if item.nulls_first else ([p[1] for p in present] + missing)
    return ordered


def project(
    query: Query, record: Mapping[str, Any], lookup: Lookup, url_for: Callable[[str, str], str]
) -> dict[str, Any]:
    """The JSON row Salesforce returns: attributes, selected fields, nested parent objects."""
    obj = query.sobject
    out: dict[str, Any] = {"attributes": {"type": obj.name, "url": url_for(obj.name, record["Id"])}}
    for path in query.select:
        node: dict[str, Any] | None = out
        current: Mapping[str, Any] | None = record
        for step, rel_name, target_obj in zip(path.steps, path.parts[:-1], path.objects[1:], strict=True):
            assert node is not None
            ref_id = current.get(step.name) if current is not None else None
            current = lookup(target_obj.name, ref_id) if ref_id else None
            if current is None:
                node.setdefault(rel_name, None)
                node = None
                break
            child = node.get(rel_name)
            if not isinstance(child, dict):
                child = {"attributes": {"type": target_obj.name, "url": url_for(target_obj.name, current["Id"])}}
                node[rel_name] = child
            node = child
        if node is not None and current is not None:
            node[path.target.name] = current.get(path.target.name)
    return out
