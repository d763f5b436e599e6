"""``sfsync crypto …``: keys, rotation, destruction, verification and re-encryption plans.

``verify``, ``status`` and ``reencrypt`` read every ``encrypt`` field of every mapping from
Salesforce through the gateway; ``verify`` and ``reencrypt`` can instead read JSON Lines
(``{"sobject", "field", "record_key", "value"}``) from ``--input``. Problems are reported by object,
field and record key, never by value.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, TextIO

import typer
from rich.table import Table

from sfsync.cli._common import console, err_console, state
from sfsync.crypto._factory import provider_from_settings
from sfsync.crypto._format import is_api_name
from sfsync.crypto._keyring import Keyring, KeyState
from sfsync.crypto._providers import KeyProvider
from sfsync.crypto._verify import ReencryptSkip, StoredValue, reencrypt_plan, verify_values
from sfsync.errors import ErrorContext, KeyringError, UsageError

app = typer.Typer(no_args_is_help=True, help="Keys, rotation, re-encryption and verification.")

PartnerOption = Annotated[
    str | None, typer.Option("--partner", help="Work on this partner's own data keys instead of the default group.")
]
InputOption = Annotated[
    Path | None,
    typer.Option("--input", "-i", help="JSON Lines of stored values {sobject, field, record_key, value}."),
]


def _settings_provider(ctx: typer.Context) -> KeyProvider:
    return provider_from_settings(state(ctx).settings())


def _read_values(path: Path) -> Iterator[StoredValue]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", ErrorContext(file=str(path))) from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = ErrorContext(file=str(path), line=number)
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UsageError("not a JSON object", where) from None
            if not isinstance(row, dict):
                raise UsageError("not a JSON object", where)
            try:
                sobject, field, record_key = (row[k] for k in ("sobject", "field", "record_key"))
            except KeyError as exc:
                raise UsageError(f"missing key {exc.args[0]!r}", where) from None
            value = row.get("value")
            if not all(isinstance(v, str) for v in (sobject, field, record_key)) or not (
                value is None or isinstance(value, str)
            ):
                raise UsageError("sobject, field and record_key must be strings, value a string or null", where)
            if not (is_api_name(sobject) and is_api_name(field) and record_key):
                raise UsageError("sobject and field must be API names and record_key non-empty", where)
            yield StoredValue(sobject, field, record_key, value)


@contextmanager
def stored_values(ctx: typer.Context, input_path: Path | None) -> Iterator[Iterable[StoredValue]]:
    """Values to check: a JSON Lines file, or every ``encrypt`` field of every mapping in Salesforce."""
    if input_path is not None:
        yield _read_values(input_path)
        return
    from sfsync.mapping import load_mappings
    from sfsync.services.connect import connect_salesforce
    from sfsync.services.crypto_org import stored_values_from_salesforce

    settings = state(ctx).settings()
    mappings = load_mappings(settings.mappings.paths)
    with connect_salesforce(settings) as gateway:
        yield stored_values_from_salesforce(gateway, mappings)


def _print_keys(keyring: Keyring) -> None:
    primaries = {key_id for key_id in keyring.primaries.values()}
    table = Table(title="keyring")
    for column in ("key id", "group", "state", "primary", "created"):
        table.add_column(column)
    for key in sorted(keyring.keys, key=lambda k: (k.partner or "", k.created)):
        table.add_row(
            key.key_id,
            key.partner or "(default)",
            key.state.value,
            "yes" if key.key_id in primaries else "",
            key.created.strftime("%Y-%m-%d %H:%M UTC"),
        )
    console.print(table)
    console.print(f"blind-index key: {keyring.index_key_id}")


@app.command()
def keygen(
    ctx: typer.Context,
    partner: PartnerOption = None,
    new_master_key: Annotated[
        bool, typer.Option("--new-master-key", help="Print a new random master key and exit (no file is touched).")
    ] = False,
) -> None:
    """Create the keyring (or a partner's first data key)."""
    if new_master_key:
        typer.echo(secrets.token_urlsafe(32))
        return
    provider = _settings_provider(ctx)
    with provider.locked():
        if partner is None:
            keyring = provider.create()
            console.print(f"created keyring {provider.path} with primary key {keyring.primary_id}")
            return
        keyring = provider.load()
        if keyring.primary_for(partner) is not None:
            raise UsageError(f"partner {partner!r} already has a key; use `sfsync crypto rotate --partner`")
        key_id = keyring.rotate(partner)
        provider.save(keyring)
    console.print(f"created data key {key_id} for partner {partner!r}")


@app.command()
def rotate(ctx: typer.Context, partner: PartnerOption = None) -> None:
    """Make a new primary key; the old one stays for decryption only."""
    provider = _settings_provider(ctx)
    with provider.locked():
        keyring = provider.load()
        old = keyring.primary_for(partner)
        key_id = keyring.rotate(partner)
        provider.save(keyring)
    console.print(f"new primary {key_id}" + (f" (was {old}, now decrypt-only)" if old else ""))
    console.print("run `sfsync crypto reencrypt` to move stored values to it")


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    with_usage: Annotated[
        bool, typer.Option("--usage/--no-usage", help="Count stored values per key in Salesforce.")
    ] = True,
) -> None:
    """Key ids, states and primaries of the keyring, and how many stored values use each key."""
    keyring = _settings_provider(ctx).load()
    usage = _key_usage(ctx) if with_usage else None
    if as_json:
        primaries = set(keyring.primaries.values())
        typer.echo(json.dumps({
            "primary": keyring.primary_id,
            "index_key_id": keyring.index_key_id,
            "keys": [
                {"key_id": k.key_id, "partner": k.partner, "state": k.state.value,
                 "primary": k.key_id in primaries, "created": k.created.isoformat()}
                for k in keyring.keys
            ],
            "values_per_key": None if usage is None else dict(usage),
        }, indent=2))
        return
    _print_keys(keyring)
    if usage is not None:
        table = Table(title="stored values per key id (Salesforce)")
        table.add_column("key id")
        table.add_column("values", justify="right")
        for key_id, count in sorted(usage.items()):
            table.add_row(key_id, str(count))
        console.print(table)
        older = sum(n for k, n in usage.items() if k != keyring.primary_id and k in keyring)
        if older:
            console.print(f"{older} values are under older keys: run `sfsync crypto reencrypt`", highlight=False)


def _key_usage(ctx: typer.Context) -> Counter[str] | None:
    """Per key id counts from Salesforce, or None (with a note) when no org is configured."""
    from sfsync.mapping import load_mappings
    from sfsync.services.connect import connect_salesforce
    from sfsync.services.crypto_org import key_usage

    settings = state(ctx).settings()
    if settings.salesforce.fake_org is None and settings.salesforce.missing_credentials():
        err_console.print("no Salesforce org configured: showing the keyring only (--no-usage hides this note)")
        return None
    with connect_salesforce(settings) as gateway:
        return key_usage(gateway, load_mappings(settings.mappings.paths))


@app.command()
def destroy(
    ctx: typer.Context,
    key_id: Annotated[str | None, typer.Argument(help="The key to destroy.")] = None,
    partner: Annotated[
        str | None, typer.Option("--partner", help="Crypto-shred a partner: destroy all its keys.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Destroy key material for good: every value under it becomes unreadable (crypto-shredding)."""
    if (key_id is None) == (partner is None):
        raise UsageError("give either KEY_ID or --partner")
    provider = _settings_provider(ctx)
    with provider.locked():
        keyring = provider.load()
        what = f"partner {partner!r}" if partner is not None else f"key {key_id}"
        if not yes and not typer.confirm(f"Destroy {what}? Values under it can never be decrypted again."):
            raise typer.Abort()
        destroyed: list[str] = []
        if partner is not None:
            destroyed = keyring.destroy_partner(partner)
        elif key_id is not None:
            if keyring.get(key_id) is None:
                raise KeyringError(f"no key {key_id!r} in the keyring")
            keyring.set_state(key_id, KeyState.DESTROYED)
            destroyed = [key_id]
        provider.save(keyring)
    console.print(f"destroyed {', '.join(destroyed)}; remember that backups of the keyring file still hold them")


@app.command()
def verify(
    ctx: typer.Context,
    input_path: InputOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write the report as Markdown.")] = None,
    decrypt_check: Annotated[
        bool, typer.Option("--decrypt-check", help="Prove every token decrypts in its place (needs the keyring).")
    ] = False,
) -> None:
    """Scan stored encrypted values; exit 0 only when everything is clean (1 otherwise)."""
    keyring = _settings_provider(ctx).load()
    with stored_values(ctx, input_path) as values:
        report = verify_values(values, keyring, decrypt_check=decrypt_check)
    if markdown is not None:
        markdown.write_text(report.to_markdown(), encoding="utf-8")
    if as_json:
        typer.echo(report.to_json())
    else:
        typer.echo(report.to_markdown(), nl=False)  # plain: rich would re-wrap the table rows
    if not report.clean:
        raise typer.Exit(1)


@app.command()
def reencrypt(
    ctx: typer.Context,
    input_path: InputOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="With --input: write the plan (JSON Lines) here.")
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Leave values that cannot be decrypted (see `crypto verify`) untouched "
                     "and list them, instead of stopping before anything is written."),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be rewritten; write nothing.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Records per upsert batch.")] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON (Salesforce mode).")] = False,
) -> None:
    """Rewrite every stored value still under an older key with the current primary.

    Without --input, reads every encrypted field of every mapping in Salesforce and rewrites the
    values in place through the gateway (upserts by external id, batched). Rerun it until it
    reports 0: it is idempotent and resumes where an interrupted run stopped. With --input, only
    prints the plan (new tokens, never plaintext).

    The whole plan is made before the first write. A stored value that cannot be decrypted
    (plaintext, malformed, unknown key, tampered or moved) stops the command with exit 3 and
    nothing written, naming its object, field and record; with --skip-invalid it is left
    untouched, listed, and the command exits 1 once the others are rewritten.
    """
    keyring = _settings_provider(ctx).load()
    on_error: Literal["raise", "skip"] = "skip" if skip_invalid else "raise"
    if input_path is None:
        from sfsync.mapping import load_mappings
        from sfsync.services.connect import connect_salesforce
        from sfsync.services.crypto_org import apply_reencryption

        settings = state(ctx).settings()
        with connect_salesforce(settings) as gateway:
            result = apply_reencryption(gateway, load_mappings(settings.mappings.paths), keyring,
                                        batch_size=batch_size, dry_run=dry_run, on_error=on_error)
        if as_json:
            typer.echo(json.dumps({**result.to_dict(), "dry_run": dry_run}, indent=2))
        else:
            verb = "would rewrite" if dry_run else "rewrote"
            console.print(f"{result.planned} values under older keys; {verb} "
                          f"{result.planned if dry_run else result.rewritten}, rejected {result.rejected}, "
                          f"skipped {len(result.skipped)}", highlight=False)
        _print_skipped(result.skipped)
        if result.rejected or result.skipped:
            raise typer.Exit(1)
        return
    skipped: list[ReencryptSkip] = []
    with stored_values(ctx, input_path) as values:
        plan = reencrypt_plan(values, keyring, on_error=on_error, skipped=skipped)
    out: TextIO = output.open("w", encoding="utf-8") if output is not None else sys.stdout
    try:
        for item in plan:
            out.write(json.dumps({"sobject": item.sobject, "field": item.field, "record_key": item.record_key,
                                  "old_key_id": item.old_key_id, "new_key_id": item.new_key_id,
                                  "value": item.token}) + "\n")
    finally:
        if output is not None:
            out.close()
    _print_skipped(skipped)
    typer.echo(f"{len(plan)} values to re-encrypt, {len(skipped)} skipped", err=True)


def _print_skipped(skipped: list[ReencryptSkip]) -> None:
    """One line per value left untouched, on stderr: place and reason, never the value."""
    for skip in skipped:
        err_console.print(
            f"skipped {skip.sobject}.{skip.field} of record {skip.record_key!r}: {skip.explanation}",
            highlight=False, markup=False, soft_wrap=True,
        )
