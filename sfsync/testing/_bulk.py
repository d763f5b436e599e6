"""Bulk API 2.0 ingest and query jobs for FakeSalesforce."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfsync.testing._soql import SoqlError, resolve_value
from sfsync.testing._values import RecordError, TypeMismatch, coerce_value

if TYPE_CHECKING:
    from sfsync.testing._fake import FakeSalesforce
    from sfsync.testing._schema import FieldSchema, ObjectSchema

__all__ = ["BulkEngine"]

MAX_UPLOAD_BYTES = 150 * 1024 * 1024
_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
_TERMINAL = ("JobComplete", "Failed", "Aborted")


@dataclass
class _Job:
    id: str
    kind: str  # ingest | query
    operation: str
    object: str
    created: str
    external_id: str | None = None
    line_ending: str = "LF"
    delimiter: str = "COMMA"
    state: str = "Open"
    modstamp: str = ""
    data: list[bytes] = field(default_factory=list)
    polls_left: int = 0
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    successful: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    query: str = ""
    result_rows: list[list[str]] = field(default_factory=list)
    result_header: list[str] = field(default_factory=list)


class BulkEngine:
    """Job store and CSV processing. Jobs finish when closed; polls report InProgress meanwhile."""

    max_upload_bytes = MAX_UPLOAD_BYTES

    def __init__(self, fake: FakeSalesforce) -> None:
        self.fake = fake
        self.jobs: dict[str, _Job] = {}
        self._counter = 0

    # ------------------------------------------------------------------ routing
    def route(
        self, method: str, kind: str, segs: list[str], *, query: dict[str, list[str]], body: bytes, version: str
    ) -> Any:
        fake = self.fake
        if not segs:
            if method == "POST":
                return self._create(kind, body, version)
            if method == "GET":
                jobs = [self._info(j, version) for j in self.jobs.values() if j.kind == kind]
                return fake.reply(200, {"done": True, "records": jobs, "nextRecordsUrl": None})
            raise fake.http_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")
        job = self.jobs.get(segs[0])
        if job is None or job.kind != kind:
            raise fake.http_error(404, "NOT_FOUND", "The requested resource does not exist")
        rest = segs[1:]
        if not rest:
            if method == "GET":
                self._poll(job)
                return fake.reply(200, self._info(job, version))
            if method == "PATCH":
                return self._set_state(job, body, version)
            if method == "DELETE":
                if job.state not in (*_TERMINAL, "UploadComplete") and job.kind == "ingest":
                    raise fake.http_error(
                        400, "INVALIDJOBSTATE", f"Job must be in a terminal state to be deleted, but is {job.state}"
                    )
                del self.jobs[job.id]
                return fake.reply(204)
        elif kind == "ingest" and rest == ["batches"] and method == "PUT":
            return self._upload(job, body)
        elif (
            kind == "ingest"
            and len(rest) == 1
            and method == "GET"
            and rest[0] in ("successfulResults", "failedResults", "unprocessedrecords")
        ):
            return self._results(job, rest[0])
        elif kind == "query" and rest == ["results"] and method == "GET":
            return self._query_results(job, query)
        raise fake.http_error(404, "NOT_FOUND", "The requested resource does not exist")

    # ------------------------------------------------------------------ jobs
    def _new_id(self) -> str:
        self._counter += 1
        # 750 is the Bulk job key prefix.
        return f"7505g{self._counter:010d}AAA"

    def _create(self, kind: str, body: bytes, version: str) -> Any:
        fake = self.fake
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            raise fake.http_error(400, "JSON_PARSER_ERROR", "Unexpected character in the request body") from None
        if not isinstance(spec, dict):
            raise fake.http_error(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        delimiter = str(spec.get("columnDelimiter", "COMMA"))
        line_ending = str(spec.get("lineEnding", "LF"))
        if delimiter not in _DELIMITERS or line_ending not in ("LF", "CRLF"):
            raise fake.http_error(400, "INVALIDJOBSTATE", "Invalid columnDelimiter or lineEnding")
        if spec.get("contentType", "CSV") != "CSV":
            raise fake.http_error(400, "INVALIDJOBSTATE", "contentType must be CSV")
        if kind == "query":
            operation = str(spec.get("operation", "query"))
            if operation not in ("query", "queryAll"):
                raise fake.http_error(400, "INVALIDJOBSTATE", f"Invalid operation {operation}")
            soql = str(spec.get("query", ""))
            try:
                parsed, rows = fake.run_query(soql, include_deleted=operation == "queryAll")
            except SoqlError as exc:
                raise fake.http_error(400, exc.error_code, exc.message) from None
            job = _Job(
                self._new_id(),
                "query",
                operation,
                parsed.sobject.name,
                fake.now_text(),
                line_ending=line_ending,
                delimiter=delimiter,
                state="UploadComplete",
                query=soql,
                polls_left=fake.bulk_polls_until_complete - 1,
            )
            job.result_header = [".".join(p.parts) for p in parsed.select]
            job.result_rows = [[_csv_value(resolve_value(r, p, fake.lookup)) for p in parsed.select] for r in rows]
            job.processed = len(rows)
            job.state = "InProgress" if job.polls_left > 0 else "JobComplete"
            self.jobs[job.id] = job
            return fake.reply(200, self._info(job, version))
        obj_name = spec.get("object")
        obj = fake.schema.get(str(obj_name)) if obj_name else None
        if obj is None:
            raise fake.http_error(400, "INVALIDENTITY", f"Entity '{obj_name}' is not supported by the Bulk API.")
        operation = str(spec.get("operation", ""))
        if operation not in _OPERATIONS:
            raise fake.http_error(400, "INVALIDJOBSTATE", f"Invalid operation: {operation}")
        ext = None
        if operation == "upsert":
            ext_name = spec.get("externalIdFieldName")
            ext_spec = obj.field(str(ext_name)) if ext_name else None
            if ext_spec is None or not (ext_spec.external_id or ext_spec.name == "Id"):
                raise fake.http_error(
                    400,
                    "INVALIDJOBSTATE",
                    f"The External ID Field Name {ext_name} is not a valid external id field on {obj.name}",
                )
            ext = ext_spec.name
        job = _Job(
            self._new_id(),
            "ingest",
            operation,
            obj.name,
            fake.now_text(),
            external_id=ext,
            line_ending=line_ending,
            delimiter=delimiter,
        )
        job.modstamp = job.created
        self.jobs[job.id] = job
        return fake.reply(200, self._info(job, version))

    def _info(self, job: _Job, version: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.object,
            "createdById": self.fake.user_id,
            "createdDate": job.created,
            "systemModstamp": job.modstamp or job.created,
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": job.line_ending,
            "columnDelimiter": job.delimiter,
        }
        if job.kind == "ingest":
            info.update(
                {
                    "externalIdFieldName": job.external_id,
                    "contentUrl": f"services/data/v{version}/jobs/ingest/{job.id}/batches",
                    "jobType": "V2Ingest",
                    "numberRecordsProcessed": job.processed,
                    "numberRecordsFailed": job.failed,
                    "retries": 0,
                    "totalProcessingTime": 0,
                    "apiActiveProcessingTime": 0,
                    "apexProcessingTime": 0,
                }
            )
        else:
            info.update(
                {
                    "query": job.query,
                    "jobType": "V2Query",
                    "numberRecordsProcessed": job.processed,
                    "retries": 0,
                    "totalProcessingTime": 0,
                }
            )
        if job.error_message:
            info["errorMessage"] = job.error_message
        return info

    def _poll(self, job: _Job) -> None:
        """A status request: InProgress while polls remain, then the final state."""
        if job.state in ("UploadComplete", "InProgress"):
            if job.polls_left > 0:
                job.polls_left -= 1
                job.state = "InProgress"
            else:
                self._settle(job)

    def _settle(self, job: _Job) -> None:
        if job.state in ("UploadComplete", "InProgress") and job.polls_left == 0:
            job.state = "Failed" if job.error_message else "JobComplete"
            job.modstamp = self.fake.now_text()

    def _set_state(self, job: _Job, body: bytes, version: str) -> Any:
        fake = self.fake
        try:
            wanted = json.loads(body or b"{}").get("state")
        except (ValueError, AttributeError):
            raise fake.http_error(400, "JSON_PARSER_ERROR", "Unexpected character in the request body") from None
        if wanted == "Aborted":
            if job.state in _TERMINAL:
                raise fake.http_error(400, "INVALIDJOBSTATE", f"Job is already in the terminal state {job.state}")
            if job.kind == "ingest" and job.state == "Open":
                job.unprocessed = self._rows(job)[1] if job.data else []
            job.state = "Aborted"
        elif wanted == "UploadComplete" and job.kind == "ingest":
            if job.state != "Open":
                raise fake.http_error(400, "INVALIDJOBSTATE", f"Job is not in the Open state: {job.state}")
            self._process(job)
            job.polls_left = fake.bulk_polls_until_complete - 1
            job.state = "UploadComplete"
        else:
            raise fake.http_error(400, "INVALIDJOBSTATE", f"Invalid state change to {wanted}")
        job.modstamp = fake.now_text()
        return fake.reply(200, self._info(job, version))

    def _upload(self, job: _Job, body: bytes) -> Any:
        fake = self.fake
        if job.state != "Open":
            raise fake.http_error(400, "INVALIDJOBSTATE", f"Job is not in the Open state: {job.state}")
        if len(body) + sum(len(d) for d in job.data) > self.max_upload_bytes:
            raise fake.http_error(
                400, "EXCEEDED_QUOTA", "The uploaded data exceeds the maximum of 150 MB for a Bulk API 2.0 job"
            )
        job.data.append(body)
        return fake.reply(201, None, records=max(body.count(b"\n") - 1, 0))

    # ------------------------------------------------------------------ CSV processing
    def _rows(self, job: _Job) -> tuple[list[str], list[list[str]]]:
        text = b"".join(job.data).decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_DELIMITERS[job.delimiter])
        rows = [row for row in reader if row]
        if not rows:
            return [], []
        return rows[0], rows[1:]

    def _process(self, job: _Job) -> None:
        fake = self.fake
        obj = fake.schema.objects[job.object]
        header, rows = self._rows(job)
        job.header = header
        columns: list[tuple[str, FieldSchema | None, FieldSchema | None, FieldSchema | None]] = []
        for name in header:
            if "." in name:
                rel_name, _, ext_name = name.partition(".")
                rel = obj.relationship(rel_name)
                target = fake.schema.objects[rel.reference_to[0]] if rel is not None else None
                ext = target.field(ext_name) if target is not None else None
                if rel is None or ext is None:
                    job.error_message = f"InvalidBatch : Field name not found : {name}"
                    break
                columns.append((name, None, rel, ext))
            else:
                spec = obj.field(name)
                if spec is None:
                    job.error_message = f"InvalidBatch : Field name not found : {name}"
                    break
                columns.append((name, spec, None, None))
        if (
            job.error_message is None
            and job.operation == "upsert"
            and job.external_id not in [c[1].name for c in columns if c[1] is not None]
        ):
            job.error_message = f"InvalidBatch : Field name not found : {job.external_id}"
        if (
            job.error_message is None
            and job.operation in ("update", "delete", "hardDelete")
            and "Id" not in [c[1].name for c in columns if c[1] is not None]
        ):
            job.error_message = "InvalidBatch : Field name not found : Id"
        if job.error_message is not None:
            job.unprocessed = rows
            return
        ext_index = next((i for i, c in enumerate(columns) if c[1] is not None and c[1].name == job.external_id), None)
        counts: dict[str, int] = {}
        if ext_index is not None:
            for row in rows:
                if ext_index < len(row) and row[ext_index]:
                    key = row[ext_index].lower()
                    counts[key] = counts.get(key, 0) + 1
        for row in rows:
            job.processed += 1
            try:
                if len(row) != len(columns):
                    raise RecordError("INVALID_FIELD", "Incorrect number of columns in the row", [])
                if fake.lock_fault():
                    raise fake.lock_error(None)
                rid, created = self._apply_row(job, obj, columns, row, ext_index=ext_index, counts=counts)
                job.successful.append([rid, "true" if created else "false", *row])
            except RecordError as exc:
                job.failed += 1
                rid = ""
                if job.operation in ("update", "delete", "hardDelete"):
                    id_index = next(i for i, c in enumerate(columns) if c[1] is not None and c[1].name == "Id")
                    rid = row[id_index] if id_index < len(row) else ""
                job.failures.append([rid, exc.as_bulk_error(), *row])

    def _apply_row(
        self,
        job: _Job,
        obj: ObjectSchema,
        columns: list[Any],
        row: list[str],
        *,
        ext_index: int | None,
        counts: dict[str, int],
    ) -> tuple[str, bool]:
        fake = self.fake
        values: dict[str, Any] = {}
        record_id = ""
        for (_name, spec, rel, ext), cell in zip(columns, row, strict=True):
            if cell == "":
                continue  # empty cell: leave the field unchanged
            if rel is not None:
                if cell == "#N/A":
                    values[rel.name] = None
                else:
                    values[rel.name] = fake.resolve_foreign_key(obj, rel, {ext.name: cell})
                continue
            if spec.name == "Id":
                record_id = cell
                continue
            try:
                values[spec.name] = None if cell == "#N/A" else coerce_value(spec, cell, from_csv=True)
            except TypeMismatch as exc:
                raise RecordError(exc.status_code, exc.message, exc.fields) from None
        # Values were coerced from CSV text already; hand the fake JSON-native values.
        if job.operation == "insert":
            return str(fake.create_record(obj, values)["Id"]), True
        if job.operation in ("update", "delete", "hardDelete"):
            record = fake.find_record(obj, record_id) if record_id else None
            if not record_id:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
            if record is None:
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            if record["IsDeleted"]:
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
            if job.operation == "update":
                fake.update_record(obj, record, values)
            else:
                fake.delete_record(record)
            return str(record["Id"]), False
        assert job.external_id is not None and ext_index is not None
        ext_spec = obj.fields[job.external_id]
        ext_value = row[ext_index]
        if not ext_value:
            raise RecordError("MISSING_ARGUMENT", f"{ext_spec.name} not specified", [ext_spec.name])
        if counts.get(ext_value.lower(), 0) > 1:
            raise RecordError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {ext_value}", [ext_spec.name])
        found = fake.find_by_external(obj, ext_spec, ext_value)
        if len(found) > 1:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"The external ID provided matches more than one record: {ext_value}",
                [ext_spec.name],
            )
        body = {k: v for k, v in values.items() if k != ext_spec.name}
        if found:
            fake.update_record(obj, found[0], body)
            return str(found[0]["Id"]), False
        return str(fake.create_record(obj, {**body, ext_spec.name: ext_value})["Id"]), True

    # ------------------------------------------------------------------ results
    def _csv(self, header: list[str], rows: list[list[str]], job: _Job) -> bytes:
        out = io.StringIO()
        writer = csv.writer(
            out,
            delimiter=_DELIMITERS[job.delimiter],
            quoting=csv.QUOTE_ALL,
            lineterminator="\r\n" if job.line_ending == "CRLF" else "\n",
        )
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue().encode()

    def _results(self, job: _Job, which: str) -> Any:
        fake = self.fake
        self._settle(job)
        if which != "unprocessedrecords" and job.state not in ("JobComplete", "Failed", "Aborted"):
            raise fake.http_error(
                400, "INVALIDJOBSTATE", f"Results are available once the job is complete; it is {job.state}"
            )
        headers = {"Content-Type": "text/csv"}
        if which == "successfulResults":
            body = self._csv(["sf__Id", "sf__Created", *job.header], job.successful, job)
            return fake.reply(200, body, headers, records=len(job.successful))
        if which == "failedResults":
            body = self._csv(["sf__Id", "sf__Error", *job.header], job.failures, job)
            return fake.reply(200, body, headers, records=len(job.failures))
        header = job.header or self._rows(job)[0]
        body = self._csv(header, job.unprocessed, job)
        return fake.reply(200, body, headers, records=len(job.unprocessed))

    def _query_results(self, job: _Job, query: dict[str, list[str]]) -> Any:
        fake = self.fake
        self._settle(job)
        if job.state != "JobComplete":
            raise fake.http_error(400, "INVALIDJOBSTATE", f"Job is not complete: {job.state}")
        start = int(query.get("locator", ["0"])[-1] or 0) if query.get("locator", ["0"])[-1].isdigit() else 0
        size = int(query.get("maxRecords", [str(fake.page_size)])[-1])
        chunk = job.result_rows[start : start + size]
        end = start + len(chunk)
        headers = {
            "Content-Type": "text/csv",
            "Sforce-NumberOfRecords": str(len(chunk)),
            "Sforce-Locator": str(end) if end < len(job.result_rows) else "null",
        }
        return fake.reply(200, self._csv(job.result_header, chunk, job), headers, records=len(chunk))


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
