"""Bulk API 2.0 ingest: CSV in, per-row results back in input order (never bulk v1)."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

# Salesforce takes up to 150 MB per upload (after encoding); 100 MB leaves room for its base64.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
NULL = "#N/A"  # Bulk 2.0 CSV null; an empty cell means "leave unchanged"
_ERROR_RE = re.compile(r"^(?P<code>[A-Z][A-Z0-9_]+):(?P<rest>.*)$", re.DOTALL)
_FIELDS_RE = re.compile(r"^[A-Za-z0-9_.]+(\s*,\s*[A-Za-z0-9_.]+)*$")


def csv_value(value: Any) -> str:
    # Salesforce stores "" as null in REST; in a Bulk CSV an empty cell would mean "unchanged",
    # so both become #N/A and a record means the same through Collections and Bulk.
    if type(value) is str:  # most cells: no further checks
        return value or NULL
    if value is None or value == "":
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | Decimal | int | float):
        return str(value) if not isinstance(value, date) else value.isoformat()
    if isinstance(value, list | tuple | set):
        return ";".join(str(v) for v in value)  # multi-select picklists
    return str(value)


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"Partner_Account__r": {"Partner_Number__c": "P1"}}`` -> ``{"Partner_Account__r.Partner_Number__c": "P1"}``."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        name = f"{prefix}{key}" if prefix else key
        if type(value) is dict or (type(value) is not str and isinstance(value, Mapping)):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _cell(text: str) -> str:
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(cells: Sequence[str]) -> bytes:
    """One RFC 4180 row ending in LF.

    Written by hand because Python 3.11's csv module (QUOTE_MINIMAL with an LF terminator)
    leaves a lone CR unquoted, which Salesforce would read as a line break (and it looks at
    every character in Python-level steps: many times slower on long ciphertext cells).
    """
    return (_line_text(cells) + "\n").encode("utf-8")


def _line_text(cells: Sequence[str]) -> str:
    line = ",".join(cells)
    # No cell holds a comma, quote or line break (the usual row): nothing to quote.
    if line.count(",") == len(cells) - 1 and '"' not in line and "\n" not in line and "\r" not in line:
        return line
    return ",".join([_cell(c) for c in cells])


@dataclass(frozen=True)
class CsvPart:
    """One upload: the CSV bytes and the input indexes of its rows, in row order."""

    data: bytes
    indexes: tuple[int, ...]


def _csv_cells(record: Mapping[str, Any]) -> dict[str, str]:
    """``{column: csv_value(value)}`` of ``flatten(record)``, same keys in the same order, in one pass."""
    if "attributes" in record:  # a record as Salesforce answers it: the general path
        return {name: csv_value(value) for name, value in flatten(record).items()}
    cells: dict[str, str] = {}
    for key, value in record.items():
        if type(value) is str:  # most cells
            cells[key] = value or NULL
        elif value is None:
            cells[key] = NULL
        elif type(value) is dict or isinstance(value, Mapping):  # a relationship: Parent__r.Field__c
            for name, inner in flatten(value, f"{key}.").items():
                cells[name] = csv_value(inner)
        else:
            cells[key] = csv_value(value)
    return cells


def build_csv_parts(
    records: Sequence[Mapping[str, Any]], indexes: Sequence[int], max_bytes: int = MAX_UPLOAD_BYTES
) -> Iterator[CsvPart]:
    """Split the rows into CSV uploads of at most ``max_bytes`` each (LF line endings).

    Every part carries the header of all columns of all its records: a record without a column
    gets an empty cell, which Bulk 2.0 reads as "do not change" — the same as a key absent from
    a JSON record.
    """
    try:
        parts = _csv_parts(records, indexes, max_bytes)
    except Exception:  # any failure is reproduced, where and as it was, by the row-by-row path
        parts = None
    if parts is None:
        yield from _csv_parts_row_by_row(records, indexes, max_bytes)
    else:
        yield from parts


def _csv_parts(records: Sequence[Mapping[str, Any]], indexes: Sequence[int], max_bytes: int) -> list[CsvPart]:
    """The parts of :func:`build_csv_parts`, byte for byte, with the per-cell work done in C.

    One pass over each record makes its cells (flattened and formatted); the caller sends one
    job's rows at a time (the sync pipeline's job_size), so holding them costs little. The
    rows are written by ``csv.writer`` and the whole text encoded once.
    """
    rows = [_csv_cells(records[i]) for i in indexes]
    columns: dict[str, None] = {}
    # Each column where it was first seen; a row with the key order of an earlier row adds nothing.
    for shape in dict.fromkeys(map(tuple, rows)):
        columns.update(dict.fromkeys(shape))
    header = list(columns)
    width = len(header)
    if width > 1 and all(len(row) == width for row in rows):  # every row has every column (the usual batch)
        cell_rows: list[Sequence[str]] = list(map(itemgetter(*header), rows))
    else:
        cell_rows = [[row.get(c, "") for c in header] for row in rows]
    lines = list(map(",".join, cell_rows))
    # No cell holds a quote or CR (memchr), and the rows hold exactly the commas and LFs the
    # joins put there: no cell needs quoting, every line is csv_line's as is (the usual batch).
    head = _line_text(header)
    text = "\n".join([head, *lines, ""])
    if (
        '"' in text
        or "\r" in text
        or text.count(",") != head.count(",") + len(lines) * (width - 1)
        or text.count("\n") != len(lines) + 1
    ):
        lines = [_line_text(cells) for cells in cell_rows]
        text = "\n".join([head, *lines, ""])
    # One encode for the header and every row; a batch that fits one upload is that text.
    data = text.encode("utf-8")
    header_bytes = data[: len(head.encode("utf-8")) + 1]
    # Each row's length in bytes (with its LF): its length in characters when the text is ASCII.
    ascii_only = text.isascii()
    sizes = [(len(line) if ascii_only else len(line.encode("utf-8"))) + 1 for line in lines]
    parts: list[CsvPart] = []
    start = end = len(header_bytes)
    size = len(header_bytes)
    part_indexes: list[int] = []
    for i, length in zip(indexes, sizes, strict=True):
        if len(header_bytes) + length > max_bytes:
            raise ValueError(f"one CSV row is larger than the {max_bytes}-byte upload limit")
        if part_indexes and size + length > max_bytes:
            parts.append(CsvPart(header_bytes + data[start:end], tuple(part_indexes)))
            start, part_indexes, size = end, [], len(header_bytes)
        part_indexes.append(i)
        end += length
        size += length
    if part_indexes:
        whole = start == len(header_bytes) and end == len(data)
        parts.append(CsvPart(data if whole else header_bytes + data[start:end], tuple(part_indexes)))
    return parts


def _csv_parts_row_by_row(
    records: Sequence[Mapping[str, Any]], indexes: Sequence[int], max_bytes: int = MAX_UPLOAD_BYTES
) -> Iterator[CsvPart]:
    """:func:`build_csv_parts` a row at a time: what it falls back on for a batch it cannot
    write in one go (a row too large, text that cannot be encoded), so such a batch fails (or
    is split) exactly where and as it always did."""
    # One flattening pass: the caller sends one job's rows at a time (the sync pipeline's
    # job_size), so a flattened copy of them costs less than flattening every record twice.
    flat = [flatten(records[i]) for i in indexes]
    columns: dict[str, None] = {}
    for row in flat:
        for key in row:
            columns.setdefault(key, None)
    header = list(columns)
    header_bytes = csv_line(header)
    chunks: list[bytes] = []
    size = len(header_bytes)
    part_indexes: list[int] = []
    for i, row in zip(indexes, flat, strict=True):
        line = csv_line([csv_value(row[c]) if c in row else "" for c in header])
        if len(header_bytes) + len(line) > max_bytes:
            raise ValueError(f"one CSV row is larger than the {max_bytes}-byte upload limit")
        if part_indexes and size + len(line) > max_bytes:
            yield CsvPart(header_bytes + b"".join(chunks), tuple(part_indexes))
            chunks, part_indexes, size = [], [], len(header_bytes)
        chunks.append(line)
        part_indexes.append(i)
        size += len(line)
    if part_indexes:
        yield CsvPart(header_bytes + b"".join(chunks), tuple(part_indexes))


def read_csv(text: str) -> Iterator[dict[str, str]]:
    """Rows of a result CSV, one at a time (a 100k-row result stays one string, not 100k dicts)."""
    if text.strip():
        yield from csv.DictReader(io.StringIO(text, newline=""))


_NUMBER_TYPES = frozenset({"double", "currency", "percent"})


def typed_value(text: str, field_type: str | None) -> Any:
    """A Bulk query CSV cell as REST would answer it: an empty cell is null, booleans and
    numbers get their JSON type, everything else (dates included) stays text."""
    if text == "":
        return None
    if field_type == "boolean":
        return text.lower() == "true"
    if field_type == "int":
        return int(text)
    if field_type in _NUMBER_TYPES:
        return float(text)
    return text


def read_csv_rows(text: str) -> tuple[list[str], Iterator[list[str]]]:
    """The header of a result CSV and an iterator over its rows as lists (cheaper than dicts)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None) if text.strip() else None
    if header is None:
        return [], iter(())
    return header, reader


class RecordTyper:
    """Bulk query CSV rows -> REST-shaped records for one header, the per-column work done once.

    ``typer(cells)`` equals ``typed_record(dict(zip(header, cells)), types)``.
    """

    def __init__(self, header: Sequence[str], types: Mapping[str, str | None]) -> None:
        self.header = tuple(header)
        self._types = dict(types)
        self._flat = all("." not in c for c in header)
        self._plain = tuple(types.get(c) in (None, "string", "id", "reference", "textarea") for c in header)
        self._column_types = tuple(types.get(c) for c in header)

    def __call__(self, cells: Sequence[str]) -> dict[str, Any]:
        if not self._flat or len(cells) != len(self.header):
            return typed_record(dict(zip(self.header, cells, strict=False)), self._types)
        record: dict[str, Any] = {}
        for column, text, plain, field_type in zip(self.header, cells, self._plain, self._column_types, strict=True):
            if text == "":
                record[column] = None
            elif plain:
                record[column] = text
            else:
                record[column] = typed_value(text, field_type)
        return record


def typed_record(row: Mapping[str, str], types: Mapping[str, str | None]) -> dict[str, Any]:
    """A Bulk query CSV row as a REST record: ``Parent__r.Field__c`` columns become a nested
    ``{"Parent__r": {"Field__c": ...}}``, and a parent whose cells are all empty is ``None``."""
    record: dict[str, Any] = {}
    parents: list[tuple[dict[str, Any], str]] = []
    for column, text in row.items():
        value = typed_value(text, types.get(column))
        *path, name = column.split(".")
        target = record
        for part in path:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
                parents.append((target, part))
            target = child
        target[name] = value
    for holder, part in reversed(parents):  # innermost first
        child = holder[part]
        if isinstance(child, dict) and all(v is None for v in child.values()):
            holder[part] = None
    return record


@dataclass(frozen=True)
class BulkError:
    status_code: str
    message: str
    fields: tuple[str, ...]


def parse_bulk_error(text: str) -> BulkError:
    """``sf__Error`` cells look like ``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --``."""
    raw = text.strip().removesuffix("--").strip()
    match = _ERROR_RE.match(raw)
    if not match:
        return BulkError("BULK_ERROR", raw, ())
    code, rest = match.group("code"), match.group("rest").strip()
    fields: tuple[str, ...] = ()
    head, sep, tail = rest.rpartition(":")
    if sep and not tail.strip():  # "message:" with an empty field list
        rest = head.strip()
    elif sep and _FIELDS_RE.match(tail.strip()):
        fields = tuple(f.strip() for f in tail.split(","))
        rest = head.strip()
    return BulkError(code, rest, fields)


class RowMatcher:
    """Maps result rows back to input indexes by external id; repeated ids are taken in order."""

    def __init__(self, ext_ids: Mapping[int, str], indexes: Sequence[int]) -> None:
        self._by_id: dict[str, deque[int]] = defaultdict(deque)
        for i in indexes:
            self._by_id[ext_ids[i]].append(i)

    def take(self, ext_id: str) -> int | None:
        queue = self._by_id.get(ext_id)
        if not queue:
            return None
        return queue.popleft()

    def remaining(self) -> list[int]:
        return sorted(i for queue in self._by_id.values() for i in queue)
