"""Problems found in mappings or records, and the report that collects them in one pass."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sfsync.errors import ErrorContext, MappingError

__all__ = ["FieldProblem", "RecordMappingError", "Severity", "ValidationReport"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class FieldProblem:
    """One problem, with where it is and how to fix it. Never holds a field's value."""

    message: str
    code: str = "invalid"
    hint: str | None = None
    mapping: str | None = None
    field: str | None = None  # the Salesforce field
    column: str | None = None  # the portal column
    file: str | None = None
    line: int | None = None
    col: int | None = None
    severity: Severity = "error"

    def location(self) -> str:
        if not self.file:
            return ""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return where

    def __str__(self) -> str:
        parts = [p for p in (self.location(), self.severity) if p]
        subject = []
        if self.mapping:
            subject.append(f"mapping {self.mapping!r}")
        if self.field:
            subject.append(f"field {self.field}")
        elif self.column:
            subject.append(f"column {self.column}")
        text = ": ".join(parts)
        if subject:
            text += f": {', '.join(subject)}"
        text += f": {self.message}"
        if self.hint:
            text += f" — fix: {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["column_name"] = data.pop("column")
        data["column"] = data.pop("col")
        return data

    def context(self) -> ErrorContext:
        return ErrorContext(
            file=self.file, line=self.line, column=self.col, mapping=self.mapping, field_name=self.field
        )


@dataclass
class ValidationReport:
    """Every problem found, in file and line order."""

    problems: list[FieldProblem] = field(default_factory=list)
    mappings_checked: list[str] = field(default_factory=list)

    def add(self, problem: FieldProblem) -> None:
        self.problems.append(problem)

    def extend(self, problems: Iterable[FieldProblem]) -> None:
        self.problems.extend(problems)

    def merge(self, other: ValidationReport) -> ValidationReport:
        self.problems.extend(other.problems)
        self.mappings_checked.extend(m for m in other.mappings_checked if m not in self.mappings_checked)
        return self

    @property
    def errors(self) -> list[FieldProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[FieldProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def sorted(self) -> list[FieldProblem]:
        return sorted(self.problems, key=lambda p: (p.file or "", p.line or 0, p.col or 0, p.mapping or "", p.message))

    def __iter__(self) -> Iterator[FieldProblem]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.problems)

    def to_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "mappings": self.mappings_checked,
                "problems": [p.to_dict() for p in self.sorted()],
            },
            indent=2,
        )

    def raise_for_errors(self) -> None:
        if self.ok:
            return
        first = self.sorted()[0] if self.errors else None
        lines = "\n  ".join(str(p) for p in self.sorted() if p.severity == "error")
        raise MappingError(
            f"{len(self.errors)} problem(s) in the mappings:\n  {lines}",
            first.context() if first else None,
        )


class RecordMappingError(MappingError):
    """A record the mapping cannot transform; ``problems`` says which fields and why (no values)."""

    def __init__(self, message: str, problems: list[FieldProblem], context: ErrorContext | None = None) -> None:
        super().__init__(message, context)
        self.problems = problems
