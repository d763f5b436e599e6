"""Load mapping files, keeping the line and column of every key so problems can point at them.

PyYAML's SafeLoader is adjusted so values sales ops write mean what they look like: only
``true``/``false`` are booleans (YAML 1.1 turns ``NO`` — Norway — ``yes``, ``on`` and ``off`` into
booleans) and dates stay text (they are parsed by the mapping, with its time zone).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sfsync.errors import ErrorContext, MappingError
from sfsync.mapping._model import MappingSet, ObjectMapping, SourceInfo
from sfsync.mapping._problems import FieldProblem, ValidationReport
from sfsync.mapping._transforms import TRANSFORM_NAMES, _transform_tag

__all__ = ["collect_mappings", "load_mappings", "mapping_files"]

Path_ = tuple[str | int, ...]

# Other sfsync files that live in the mappings folder (conflict rules, named accounts): not
# mappings, skipped quietly. Any other YAML there that is not a mapping is an error.
COMPANION_FILES = frozenset({"conflict_rules", "named_accounts"})


# libyaml's parser when present (about 10x faster); marks and errors are the same.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """SafeLoader with YAML 1.2-style booleans and no implicit timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# A mapping file has a few hundred nodes; aliases may repeat a node, but an alias "bomb"
# (each level repeating the one below ten times) would expand to billions.
MAX_NODES = 100_000


class _AliasError(Exception):
    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


class _Positions:
    def __init__(self) -> None:
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.problems: list[tuple[Path_, str, str]] = []
        self.nodes = 0
        self.open: set[int] = set()  # ids of the collection nodes being built (a cycle revisits one)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(loader: _Loader, node: yaml.Node, path: Path_, positions: _Positions) -> Any:
    positions.nodes += 1
    if positions.nodes > MAX_NODES:
        raise _AliasError(f"the file expands to more than {MAX_NODES} values (an alias bomb?)", node)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in positions.open:
            raise _AliasError("an alias refers to the block that contains it (a recursive alias)", node)
        positions.open.add(id(node))
        try:
            return _build_collection(loader, node, path, positions)
        finally:
            positions.open.discard(id(node))
    positions.values[path] = _mark(node)
    return loader.construct_object(node, deep=True)


def _build_collection(loader: _Loader, node: yaml.Node, path: Path_, positions: _Positions) -> Any:
    positions.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        first_seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                positions.problems.append((path, "a key must be plain text", "write the key as a simple word"))
                continue
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                positions.problems.append((path, "a key must be plain text", "write the key as a simple word"))
                continue
            if key == "<<":
                positions.problems.append((path, "merge keys (<<) are not supported", "write the keys out"))
                continue
            child_key: str | int = key if isinstance(key, str) else str(key)
            child = (*path, child_key)
            if child_key in first_seen:
                positions.keys[child] = _mark(key_node)
                positions.problems.append(
                    (
                        child,
                        f"duplicate key {child_key!r} (first written on line {first_seen[child_key]})",
                        "keep one of them",
                    )
                )
                continue
            first_seen[child_key] = key_node.start_mark.line + 1
            positions.keys[child] = _mark(key_node)
            result[child_key] = _build(loader, value_node, child, positions)
        return result
    return [_build(loader, item, (*path, index), positions) for index, item in enumerate(node.value)]


def mapping_files(paths: Iterable[Path]) -> tuple[list[tuple[Path, bool]], list[FieldProblem]]:
    """Files to load, each with ``explicit`` (named directly, rather than found in a directory)."""
    found: list[tuple[Path, bool]] = []
    problems: list[FieldProblem] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            found.extend((f, False) for f in files)
        elif path.is_file():
            found.append((path, True))
        else:
            problems.append(
                FieldProblem(
                    message=f"mapping path {path} does not exist",
                    code="not_found",
                    hint="check [mappings] paths in sfsync.toml",
                    file=str(path),
                )
            )
    return found, problems


def _looks_like_mapping(data: Any) -> bool:
    return isinstance(data, dict) and bool({"fields", "salesforce", "portal"} & set(data))


def _parse(path: Path) -> tuple[Any, _Positions] | FieldProblem:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return FieldProblem(message=f"cannot read the file: {exc}", code="unreadable", file=str(path))
    positions = _Positions()
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = _build(loader, node, (), positions) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return FieldProblem(
            message=f"YAML syntax error: {what}",
            code="yaml_syntax",
            hint="check the indentation (spaces only, the same depth for keys of one block) and the quoting",
            file=str(path),
            line=mark.line + 1 if mark else None,
            col=mark.column + 1 if mark else None,
        )
    except yaml.YAMLError as exc:
        return FieldProblem(message=f"YAML error: {exc}", code="yaml_syntax", file=str(path))
    except _AliasError as exc:
        line, col = _mark(exc.node)
        return FieldProblem(
            message=exc.message,
            code="yaml_alias",
            hint="write the values out instead of aliasing",
            file=str(path),
            line=line,
            col=col,
        )
    except RecursionError:
        return FieldProblem(message="the file nests too deeply", code="yaml_syntax", file=str(path), line=1, col=1)
    finally:
        loader.dispose()
    return data, positions


# ---------------------------------------------------------------------- pydantic errors -> problems


def _child(current: Any, segment: str | int) -> tuple[bool, Any]:
    if isinstance(current, dict) and segment in current:
        return True, current[segment]
    if isinstance(current, list) and isinstance(segment, int) and 0 <= segment < len(current):
        return True, current[segment]
    return False, None


def _data_path(data: Any, loc: Sequence[str | int], kind: str = "") -> tuple[Path_, list[str]]:
    """The path in the YAML data for a pydantic ``loc`` (union member and tag names removed)."""
    path: list[str | int] = []
    skipped: list[str] = []
    current = data
    for segment in loc:
        in_transform_item = len(path) >= 2 and path[-2] == "transforms" and isinstance(path[-1], int)
        if in_transform_item and isinstance(segment, str) and segment in ("simple", _transform_tag(current)):
            skipped.append(segment)
            continue
        found, child = _child(current, segment)
        if found:
            path.append(segment)
            current = child
        elif (
            kind in ("extra_forbidden", "missing")
            and isinstance(segment, str)
            and isinstance(current, dict)
            and segment == loc[-1]
        ):
            path.append(segment)  # a key that is not there: unknown or missing
            current = None
        else:
            skipped.append(str(segment))
    return tuple(path), skipped


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
        return found
    return []


def _model_at(data: Any, path: Path_) -> type[BaseModel] | None:
    """The model class that validates the object at ``path`` (by walking annotations)."""
    model: type[BaseModel] | None = ObjectMapping
    current = data
    candidates: list[type[BaseModel]] = [ObjectMapping]
    for segment in path:
        if isinstance(segment, int):
            current = current[segment] if isinstance(current, list) and segment < len(current) else None
            continue
        model = _pick(candidates, current)
        if model is None:
            return None
        info = next((f for name, f in model.model_fields.items() if (f.alias or name) == segment), None)
        if info is None:
            return None
        candidates = _models_in(info.annotation)
        current = current.get(segment) if isinstance(current, dict) else None
    return _pick(candidates, current)


def _pick(candidates: list[type[BaseModel]], data: Any) -> type[BaseModel] | None:
    if not candidates:
        return None
    if len(candidates) == 1 or not isinstance(data, dict):
        return candidates[0]
    tag = _transform_tag(data)
    for model in candidates:
        if getattr(model, "tag", None) == tag:
            return model
    keys = set(data)
    return max(candidates, key=lambda m: len(keys & {f.alias or n for n, f in m.model_fields.items()}))


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


_PATTERN_MESSAGES = {
    "^[a-z][a-z0-9_]*$": "must be lower_snake_case (letters, digits, _; starting with a letter)",
    "^[A-Za-z][A-Za-z0-9_]*$": "is not a valid Salesforce API name (letters, digits and _, e.g. Amount__c)",
    "^[A-Za-z_][A-Za-z0-9_]*$": "is not a valid SQL column or table name",
}


def _friendly(error: Any, path: Path_, data: Any) -> tuple[str, str | None, bool]:
    """(message, hint, points at the key rather than the value) for one pydantic error."""
    kind = error["type"]
    last = path[-1] if path else None
    if kind == "extra_forbidden":
        model = _model_at(data, path[:-1])
        allowed = _allowed_keys(model) if model else []
        guess = did_you_mean(str(last), allowed)
        message = f"unknown key {last!r}" + (f"; did you mean {guess!r}?" if guess else "")
        return message, ("allowed keys here: " + ", ".join(allowed)) if allowed else None, True
    if kind == "missing":
        if last == "owner":
            return (
                "the field has no owner",
                "add `owner: portal` or `owner: salesforce` — exactly one side writes each field",
                False,
            )
        return f"missing required key {last!r}", f"add `{last}:`", False
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        given = error.get("input")
        guess = did_you_mean(str(given), expected) if given is not None else None
        message = f"{given!r} is not allowed here; expected {' or '.join(repr(e) for e in expected)}"
        if last == "owner" and given in ("both", "none", "either"):
            return (
                f"owner {given!r}: a field must have exactly one owner",
                "choose `portal` or `salesforce`; map the other direction as a separate field",
                False,
            )
        if guess:
            message += f"; did you mean {guess!r}?"
        if (len(path) >= 2 and path[-2] == "transforms") or (len(path) >= 3 and path[-3] == "transforms"):
            message = f"unknown transform {given!r}" + (f"; did you mean {guess!r}?" if guess else "")
            return message, "transforms: " + ", ".join(TRANSFORM_NAMES), False
        return message, None, False
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = error.get("ctx", {}).get("tag", "")
        guess = did_you_mean(str(tag), TRANSFORM_NAMES)
        message = f"unknown transform {tag!r}" + (f"; did you mean {guess!r}?" if guess else "")
        return message, "transforms: " + ", ".join(TRANSFORM_NAMES), False
    if kind == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        text = _PATTERN_MESSAGES.get(pattern, f"does not match {pattern}")
        return f"{error.get('input')!r} {text}", None, False
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return message, None, False


def _schema_problems(exc: ValidationError, data: Any, positions: _Positions, file: str) -> list[FieldProblem]:
    name = data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else None
    entries: list[tuple[Path_, list[str], Any]] = []
    for error in exc.errors(include_url=False):
        path, skipped = _data_path(data, error["loc"], error["type"])
        entries.append((path, skipped, error))
    # Union members fail separately: when a member went deeper (the value is an object), its errors
    # are the useful ones; otherwise merge the members' messages into one.
    deeper = {p[:n] for p, s, _ in entries if s for n in range(len(p))}
    problems: list[FieldProblem] = []
    merged: dict[Path_, list[str]] = {}
    seen: set[tuple[Path_, str]] = set()
    for path, skipped, error in entries:
        if skipped and path in deeper:
            continue
        message, hint, at_key = _friendly(error, path, data)
        if skipped and error["type"] not in ("extra_forbidden", "missing", "union_tag_invalid", "literal_error"):
            merged.setdefault(path, []).append(message)
            continue
        if (path, message) in seen:
            continue
        seen.add((path, message))
        hint = hint or "correct the value; `sfsync mappings schema` lists what each key accepts"
        problems.append(
            _problem_at(path, message, hint, at_key=at_key, positions=positions, file=file, mapping=name, data=data)
        )
    for path, messages in merged.items():
        text = " or ".join(dict.fromkeys(m.removeprefix("Input should be ") for m in messages))
        problems.append(
            _problem_at(
                path,
                f"invalid value: should be {text}",
                "use one of those forms",
                at_key=False,
                positions=positions,
                file=file,
                mapping=name,
                data=data,
            )
        )
    return problems


def _problem_at(
    path: Path_,
    message: str,
    hint: str | None,
    *,
    at_key: bool,
    positions: _Positions,
    file: str,
    mapping: str | None,
    data: Any,
) -> FieldProblem:
    probe = path
    table = positions.keys if at_key else positions.values
    while probe not in table and probe:
        probe = probe[:-1]
        table = positions.values
    line, col = table.get(probe, (None, None))
    where = ".".join(str(p) for p in path) or "(top level)"
    field_name = None
    if len(path) >= 2 and path[0] == "fields" and isinstance(path[1], int):
        entry = (
            data["fields"][path[1]]
            if isinstance(data, dict) and isinstance(data.get("fields"), list) and path[1] < len(data["fields"])
            else None
        )
        if isinstance(entry, dict) and isinstance(entry.get("field"), str):
            field_name = entry["field"]
    return FieldProblem(
        message=f"{where}: {message}",
        code="schema",
        hint=hint,
        mapping=mapping,
        field=field_name,
        file=file,
        line=line,
        col=col,
    )


def _load_one(path: Path, explicit: bool, report: ValidationReport) -> ObjectMapping | None:
    parsed = _parse(path)
    if isinstance(parsed, FieldProblem):
        report.add(parsed)
        return None
    data, positions = parsed
    file = str(path)
    if not explicit and not _looks_like_mapping(data):
        if path.stem in COMPANION_FILES:
            return None  # sfsync's own non-mapping files that live beside the mappings
        # Never skipped: a mapping whose keys are misspelled would otherwise sync nothing, silently.
        report.add(
            FieldProblem(
                message="not a mapping file (no `salesforce:`, `portal:` or `fields:`)",
                code="not_a_mapping",
                file=file,
                line=1,
                col=1,
                hint="fix the keys, or keep other YAML files out of the mappings folder "
                f"(only {', '.join(sorted(COMPANION_FILES))} may live there)",
            )
        )
        return None
    if not isinstance(data, dict):
        report.add(
            FieldProblem(
                message="a mapping file must be a YAML object (key: value lines)",
                code="schema",
                file=file,
                line=1,
                col=1,
            )
        )
        return None
    name = data.get("name") if isinstance(data.get("name"), str) else None
    for problem_path, message, hint in positions.problems:
        line, col = positions.keys.get(problem_path, positions.values.get(problem_path, (None, None)))
        report.add(
            FieldProblem(message=message, code="yaml_duplicate", hint=hint, mapping=name, file=file, line=line, col=col)
        )
    info = SourceInfo(file=file, positions=positions.values, key_positions=positions.keys)
    mapping: ObjectMapping | None
    try:
        mapping = ObjectMapping.model_validate(data)
    except ValidationError as exc:
        report.extend(_schema_problems(exc, data, positions, file))
        mapping = _partial(exc, data)
    if mapping is not None:
        mapping.attach_source(info)
    return mapping


def _partial(exc: ValidationError, data: dict[str, Any]) -> ObjectMapping | None:
    """The mapping without its broken field entries, so the other checks still run in this pass."""
    bad_fields: set[int] = set()
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int):
            bad_fields.add(loc[1])
        else:
            return None
    fields = data.get("fields")
    if not isinstance(fields, list):
        return None
    kept = [(index, entry) for index, entry in enumerate(fields) if index not in bad_fields]
    if not kept:
        return None
    try:
        mapping = ObjectMapping.model_validate({**data, "fields": [entry for _, entry in kept]})
    except ValidationError:
        return None
    for fm, (index, _) in zip(mapping.fields, kept, strict=True):
        fm._index = index
    mapping._partial = True
    return mapping


def collect_mappings(paths: Sequence[Path]) -> tuple[MappingSet, ValidationReport]:
    """Load every mapping it can and report every problem found (never raises for file content).

    Mappings with schema errors in some field entries are kept without those entries so the
    offline checks can still run on the rest; ``ValidationReport.ok`` is False all the same.
    """
    report = ValidationReport()
    files, problems = mapping_files(paths)
    report.extend(problems)
    loaded: list[ObjectMapping] = []
    names: dict[str, ObjectMapping] = {}
    for path, explicit in files:
        mapping = _load_one(path, explicit, report)
        if mapping is None:
            continue
        if mapping.name in names:
            first = names[mapping.name]
            report.add(
                mapping.problem(
                    ("name",),
                    f"mapping name {mapping.name!r} is already used by {first.file}",
                    hint="give each mapping a unique name",
                    code="duplicate_name",
                )
            )
            continue
        names[mapping.name] = mapping
        loaded.append(mapping)
    report.mappings_checked.extend(m.name for m in loaded)
    return MappingSet(loaded), report


def load_mappings(paths: Sequence[Path], *, validate: bool = True) -> MappingSet:
    """Load mappings for use; :class:`MappingError` (file, line, column) when anything is wrong.

    ``validate`` also runs the offline checks (ownership, types, ciphertext sizes, ...), so a
    broken mapping stops a run before anything is written.
    """
    mapping_set, report = collect_mappings(paths)
    if validate and report.ok:
        from sfsync.mapping._validate import validate_offline

        report.merge(validate_offline(mapping_set))
    report.raise_for_errors()
    if not mapping_set.all():
        raise MappingError("no mapping files found", ErrorContext(file=", ".join(str(p) for p in paths) or None))
    return mapping_set
