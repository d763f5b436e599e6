"""``sfsync mappings``: validate, preview, list, publish the JSON Schema, export Salesforce metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sfsync.cli._common import console, err_console, print_table, state
from sfsync.errors import ErrorContext, SfsyncError, UsageError

if TYPE_CHECKING:  # the mapping package loads when a command runs, not when `sfsync` starts
    from sfsync.mapping import MappingSet, ObjectMapping, OrgField, OrgObject
    from sfsync.mapping._problems import ValidationReport

app = typer.Typer(no_args_is_help=True, help="Validate, preview and publish field mappings.")

# One flag for mapping files everywhere: --path (repeatable). The positional form of earlier
# releases still works, hidden from help.
PathOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--path",
        help="Mapping file or folder (repeatable; default: [mappings] paths from sfsync.toml).",
        show_default=False,
    ),
]
LegacyPathsArg = Annotated[list[Path] | None, typer.Argument(hidden=True, show_default=False)]


def _paths(ctx: typer.Context, paths: list[Path] | None, legacy: list[Path] | None = None) -> list[Path]:
    chosen = [*(paths or []), *(legacy or [])]
    if chosen:
        return chosen
    return list(state(ctx).settings().mappings.paths)


def _print_report(report: ValidationReport, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        if extra:
            typer.echo(json.dumps({**json.loads(report.to_json()), **extra}, indent=2))
        else:
            typer.echo(report.to_json())
        return
    for problem in report:
        style = "red" if problem.severity == "error" else "yellow"
        err_console.print(str(problem), style=style, markup=False, highlight=False, soft_wrap=True)
    errors, warnings = len(report.errors), len(report.warnings)
    checked = len(report.mappings_checked)
    if report.ok:
        console.print(
            f"OK: {checked} mapping(s) valid" + (f", {warnings} warning(s)" if warnings else ""),
            markup=False,
            highlight=False,
        )
    else:
        err_console.print(
            f"{errors} error(s), {warnings} warning(s) in {checked} mapping(s)", markup=False, highlight=False
        )


@app.command()
def validate(
    ctx: typer.Context,
    paths: PathOption = None,
    legacy_paths: LegacyPathsArg = None,
    online: Annotated[bool, typer.Option("--online", help="Also check against the org's describe().")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report on stdout.")] = False,
) -> None:
    """Check mappings: schema, owners, targets, types, transforms, ciphertext sizes (exit 1 on problems)."""
    chosen = _paths(ctx, paths, legacy_paths)  # settings first: no configuration fails before the heavy imports
    from sfsync.mapping._loader import collect_mappings
    from sfsync.mapping._metadata import deploy_command
    from sfsync.mapping._validate import MISSING_CODES, validate_offline, validate_online

    mapping_set, report = collect_mappings(chosen)
    report.merge(validate_offline(mapping_set))
    if online:
        from sfsync.mapping._metadata import org_needs
        from sfsync.mapping._validate import validate_org_needs
        from sfsync.services.connect import connect_salesforce

        objects, fields = _org_declarations(ctx)
        needs = org_needs(mapping_set, objects=objects, fields=fields)
        with connect_salesforce(state(ctx).settings()) as gateway:
            report.merge(validate_online(mapping_set, gateway.describe))
            report.merge(validate_org_needs(needs, gateway.describe, skip_mapped=mapping_set))
    extra: dict[str, Any] | None = None
    if online and any(p.code in MISSING_CODES for p in report.errors):
        extra = {
            "deploy_commands": [
                "sfsync mappings export-metadata --out sfsync-metadata",
                deploy_command("sfsync-metadata"),
            ]
        }
    _print_report(report, as_json, extra)
    if online:
        _print_deploy_hint(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


def _print_deploy_hint(report: ValidationReport, as_json: bool) -> None:
    """When pieces are missing from the org, name each once and the commands that deploy them."""
    from sfsync.mapping._metadata import deploy_command
    from sfsync.mapping._validate import MISSING_CODES

    missing = [p for p in report.errors if p.code in MISSING_CODES]
    if not missing or as_json:
        return
    err_console.print(f"\n{len(missing)} piece(s) missing from the org:", markup=False, highlight=False)
    for problem in missing:
        where = f"{problem.mapping}: " if problem.mapping else ""
        err_console.print(
            f"  - {where}{problem.field or ''} {problem.message}".rstrip(),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    err_console.print("deploy them with:", markup=False, highlight=False)
    err_console.print("  sfsync mappings export-metadata --out sfsync-metadata", markup=False, highlight=False)
    err_console.print(f"  {deploy_command('sfsync-metadata')}", markup=False, highlight=False, soft_wrap=True)


def _load_for_use(ctx: typer.Context, paths: list[Path] | None, legacy: list[Path] | None = None) -> MappingSet:
    chosen = _paths(ctx, paths, legacy)
    from sfsync.mapping._loader import load_mappings

    return load_mappings(chosen, validate=False)


@app.command("list")
def list_mappings(
    ctx: typer.Context,
    paths: PathOption = None,
    legacy_paths: LegacyPathsArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
) -> None:
    """List the mappings: direction, portal table, Salesforce object, fields."""
    mapping_set = _load_for_use(ctx, paths, legacy_paths)
    rows = [_summary(m) for m in mapping_set.all()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("name", "on", "direction", "portal table", "Salesforce object", "fields")
    for row in rows:
        fields = f"{row['fields']} ({row['encrypted']} encrypted)"
        table.add_row(
            row["name"], "yes" if row["enabled"] else "no", row["direction"], row["portal_table"], row["object"], fields
        )
    print_table(table)


def _summary(m: ObjectMapping) -> dict[str, Any]:
    return {
        "name": m.name,
        "enabled": m.enabled,
        "direction": m.direction,
        "portal_table": m.source.table if m.source else "(read-only)",
        "object": m.salesforce.object,
        "external_id_field": m.salesforce.external_id_field,
        "fields": len(m.fields),
        "encrypted": len(m.encrypted_fields()),
        "file": m.file,
    }


@app.command()
def preview(
    ctx: typer.Context,
    *,
    mapping: Annotated[str, typer.Option("--mapping", "-m", help="Mapping name (see `sfsync mappings list`).")],
    record: Annotated[
        Path | None,
        typer.Option("--record", help="A portal row as a JSON object (a Salesforce record for a read-only mapping)."),
    ] = None,
    portal_id: Annotated[
        str | None, typer.Option("--portal-id", help="Primary key of a row to read from the portal database.")
    ] = None,
    salesforce_record: Annotated[
        Path | None,
        typer.Option("--salesforce-record", help="A Salesforce record (JSON) to show what a pull writes back."),
    ] = None,
    update: Annotated[
        bool, typer.Option("--update", help="Preview an update (on_create_only fields left out).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    paths: PathOption = None,
) -> None:
    """Show the Salesforce payload of a record and the reverse direction (encrypted values masked)."""
    from sfsync.mapping._preview import preview as build_preview
    from sfsync.mapping._preview import read_portal_row, render_json

    if (record is None) == (portal_id is None):
        raise UsageError("give exactly one of --record FILE.json or --portal-id ID")
    mapping_set = _load_for_use(ctx, paths)
    selected = mapping_set.get(mapping)
    if record is not None:
        row = _read_json(record)
    else:
        row = read_portal_row(state(ctx).settings().portal.url, selected, str(portal_id))
    sf_record = _read_json(salesforce_record) if salesforce_record is not None else None
    result = build_preview(selected, row, is_create=not update, salesforce_record=sf_record)
    if as_json:
        typer.echo(render_json(result))
    else:
        _print_preview(result)
    problems = list(result.get("problems", [])) + list(result.get("salesforce_to_portal", {}).get("problems", []))
    if problems:
        raise typer.Exit(1)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", ErrorContext(file=str(path))) from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"not valid JSON: {exc.msg}", ErrorContext(file=str(path), line=exc.lineno, column=exc.colno)
        ) from None
    if not isinstance(data, dict):
        raise UsageError("the record must be a JSON object", ErrorContext(file=str(path)))
    return data


def _print_preview(result: dict[str, Any]) -> None:
    from sfsync.mapping._preview import render_json

    out = console
    out.print(f"mapping {result['mapping']} -> {result['object']}", markup=False, highlight=False)
    if "payload" in result:
        out.print(
            f"\nportal -> Salesforce ({result['operation']}, external id {result['external_id']}):",
            markup=False,
            highlight=False,
        )
        out.print(render_json(result["payload"]), markup=False, highlight=False, soft_wrap=True)
        for problem in result["problems"]:
            err_console.print(
                f"  record problem: {problem['field']}: {problem['message']}",
                style="red",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if result.get("read_back"):
            out.print("\nread back into portal columns:", markup=False, highlight=False)
            out.print(render_json(result["read_back"]), markup=False, highlight=False, soft_wrap=True)
        if result.get("write_back"):
            out.print("\nSalesforce -> portal on pull (field -> column):", markup=False, highlight=False)
            for field_name, column in result["write_back"].items():
                out.print(f"  {field_name} -> {column}", markup=False, highlight=False)
    pulled = result.get("salesforce_to_portal")
    if pulled is not None:
        out.print("\nSalesforce record -> portal columns:", markup=False, highlight=False)
        out.print(render_json(pulled["values"]), markup=False, highlight=False, soft_wrap=True)
        for problem in pulled["problems"]:
            err_console.print(
                f"  record problem: {problem['field']}: {problem['message']}",
                style="red",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON Schema here (default: stdout).")
    ] = None,
) -> None:
    """Print the JSON Schema of mapping files (for editor autocompletion)."""
    from sfsync.mapping import mapping_json_schema

    text = json.dumps(mapping_json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}", markup=False, highlight=False)


@app.command("export-metadata")
def export_metadata(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option("--output", "-o", "--out", help="Folder for the SFDX project (sfdx-project.json, force-app/)."),
    ],
    paths: PathOption = None,
    legacy_paths: LegacyPathsArg = None,
    include_disabled: Annotated[
        bool, typer.Option("--include-disabled", help="Also what the disabled mappings need (to switch later).")
    ] = False,
) -> None:
    """Write a deployable SFDX project: every object, field and permission set sfsync needs."""
    chosen = _paths(ctx, paths, legacy_paths)
    from sfsync.mapping._loader import load_mappings
    from sfsync.mapping._metadata import deploy_command
    from sfsync.mapping._metadata import export_metadata as write_metadata

    mapping_set = load_mappings(chosen)
    objects, fields = _org_declarations(ctx)
    written = write_metadata(mapping_set, out, objects=objects, fields=fields, include_disabled=include_disabled)
    console.print(f"wrote {len(written)} file(s) under {out}", markup=False, highlight=False)
    console.print("deploy it, then give the integration user its permission set:", markup=False, highlight=False)
    console.print(f"  {deploy_command(out)}", markup=False, highlight=False, soft_wrap=True)


def _org_declarations(ctx: typer.Context) -> tuple[tuple[OrgObject, ...], tuple[OrgField, ...]]:
    """What the conflict scan, its writer and the channel desk need in the org, with the rules' owner field."""
    from sfsync.conflicts import conflict_org_fields, conflict_org_objects, load_rules

    owner_path: str | None = "Owner.Sales_Channel__c"
    owner_values: tuple[str, ...] = ()
    rules_path = _rules_path(ctx)
    if rules_path is not None:
        criterion = load_rules(rules_path).direct_owner.field
        if criterion is not None:
            owner_path, owner_values = criterion.name, tuple(criterion.values)
    from sfsync.salesforce import DESK_READS

    return conflict_org_objects(), (*conflict_org_fields(owner_path, owner_values), *DESK_READS)


def _rules_path(ctx: typer.Context) -> Path | None:
    try:
        settings = state(ctx).settings()
    except SfsyncError:
        return None  # no usable configuration: the shipped rules' fields are declared anyway
    rules = settings.conflicts.rules
    return rules if rules.is_file() else None
