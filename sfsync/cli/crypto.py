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
from typing import TYPE_CHECKING, Annotated, Any, Literal, TextIO

import typer

from sfsync.cli._common import confirm, console, err_console, print_table, state
from sfsync.errors import ConfigError, ErrorContext, KeyringError, UsageError

if TYPE_CHECKING:  # the crypto package (cryptography) loads when a command runs, not when `sfsync` starts
    from sfsync.crypto._keyring import Keyring
    from sfsync.crypto._providers import KeyProvider
    from sfsync.crypto._verify import ReencryptSkip, StoredValue
    from sfsync.sync._state import StateStore

app = typer.Typer(no_args_is_help=True, help="Keys, rotation, re-encryption and verification.")

PartnerOption = Annotated[
    str | None, typer.Option("--partner", help="Work on this partner's own data keys instead of the default group.")
]
InputOption = Annotated[
    Path | None,
    typer.Option("--input", "-i", help="JSON Lines of stored values {sobject, field, record_key, value}."),
]


JsonOption = Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def provider_from_settings(settings: Any) -> KeyProvider:
    from sfsync.crypto._factory import provider_from_settings as build

    return build(settings)


def _settings_provider(ctx: typer.Context) -> KeyProvider:
    return provider_from_settings(state(ctx).settings())


@contextmanager
def _state_store(ctx: typer.Context) -> Iterator[StateStore]:
    """The state store: where the keyring generation and the approved field policy are recorded."""
    from sfsync.sync._state import StateStore

    store = StateStore(state(ctx).settings().state.url)
    try:
        yield store
    finally:
        store.close()


def _load_checked(provider: KeyProvider, store: StateStore) -> Keyring:
    """The keyring, refused when it is older than the newest one recorded (a copied-back backup)."""
    from sfsync.sync._protect import check_keyring_generation

    keyring = provider.load()
    check_keyring_generation(keyring, store)
    return keyring


def _save_recorded(provider: KeyProvider, keyring: Keyring, store: StateStore) -> None:
    from sfsync.sync._protect import record_keyring_generation

    provider.save(keyring)
    record_keyring_generation(keyring, store)


def _read_values(path: Path) -> Iterator[StoredValue]:
    from sfsync.crypto._format import is_api_name
    from sfsync.crypto._verify import StoredValue

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
def stored_values(
    ctx: typer.Context, input_path: Path | None, *, required: dict[str, set[str]] | None = None
) -> Iterator[Iterable[StoredValue]]:
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
        yield stored_values_from_salesforce(gateway, mappings, required=required)


def _print_keys(keyring: Keyring) -> None:
    from rich.table import Table

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
    print_table(table)
    console.print(f"blind-index key: {keyring.index_key_id}")


@app.command()
def keygen(
    ctx: typer.Context,
    partner: PartnerOption = None,
    new_master_key: Annotated[
        bool, typer.Option("--new-master-key", help="Print a new random master key and exit (no file is touched).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the keyring (or a partner's first data key)."""
    if new_master_key:
        typer.echo(secrets.token_urlsafe(32))
        return
    provider = _settings_provider(ctx)
    with provider.locked(), _state_store(ctx) as store:
        if partner is None:
            keyring = provider.create()
            from sfsync.sync._protect import record_keyring_generation

            record_keyring_generation(keyring, store)
            if as_json:
                typer.echo(json.dumps({"keyring": str(provider.path), "primary": keyring.primary_id}, indent=2))
            else:
                console.print(f"created keyring {provider.path} with primary key {keyring.primary_id}")
            _pin_first_policy(ctx, keyring, store)
            return
        keyring = _load_checked(provider, store)
        if keyring.primary_for(partner) is not None:
            raise UsageError(f"partner {partner!r} already has a key; use `sfsync crypto rotate --partner`")
        if keyring.has_partner_keys(partner):
            raise UsageError(f"partner {partner!r} was crypto-shredded; its keys cannot come back")
        key_id = keyring.rotate(partner)
        _save_recorded(provider, keyring, store)
    if as_json:
        typer.echo(json.dumps({"keyring": str(provider.path), "partner": partner, "primary": key_id}, indent=2))
        return
    console.print(f"created data key {key_id} for partner {partner!r}")


def _pin_first_policy(ctx: typer.Context, keyring: Keyring, store: StateStore) -> None:
    """Creating the keyring is the first key holder's act: the field policy in force is approved with it."""
    from sfsync.mapping import collect_mappings, validate_offline
    from sfsync.mapping._policy import field_policy, seal_policy
    from sfsync.sync._protect import FIELD_POLICY_PIN

    if store.get_pin(FIELD_POLICY_PIN) is not None:
        err_console.print(
            "a field policy was already approved in this state store: review it with "
            "`sfsync crypto policy` and approve again with `sfsync crypto policy approve`"
        )
        return
    mappings, report = collect_mappings(state(ctx).settings().mappings.paths)
    if report.ok:
        report.merge(validate_offline(mappings))
    if not report.ok or not mappings.all():
        err_console.print(
            "no field policy approved yet (the mappings do not validate): fix them, then run "
            "`sfsync crypto policy approve`"
        )
        return
    policy = field_policy(mappings)
    store.set_pin(FIELD_POLICY_PIN, seal_policy(keyring, policy, approved_by=_who()))
    counts = ", ".join(f"{k} {v}" for k, v in sorted(policy.counts().items()))
    console.print(
        f"approved the field policy of the current mappings ({counts}); review it with "
        "`sfsync crypto policy --markdown`",
        highlight=False,
    )


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@app.command()
def rotate(ctx: typer.Context, partner: PartnerOption = None, as_json: JsonOption = False) -> None:
    """Make a new primary key; the old one stays for decryption only."""
    provider = _settings_provider(ctx)
    with provider.locked(), _state_store(ctx) as store:
        keyring = _load_checked(provider, store)
        old = keyring.primary_for(partner)
        if old is None and partner is not None and keyring.has_partner_keys(partner):
            raise UsageError(f"partner {partner!r} was crypto-shredded; its keys cannot come back")
        key_id = keyring.rotate(partner)
        _save_recorded(provider, keyring, store)
    if as_json:
        typer.echo(json.dumps({"partner": partner, "primary": key_id, "previous": old}, indent=2))
        return
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
    with _state_store(ctx) as store:
        keyring = _load_checked(_settings_provider(ctx), store)
    usage = _key_usage(ctx) if with_usage else None
    if as_json:
        primaries = set(keyring.primaries.values())
        typer.echo(
            json.dumps(
                {
                    "primary": keyring.primary_id,
                    "index_key_id": keyring.index_key_id,
                    "generation": keyring.generation,
                    "keys": [
                        {
                            "key_id": k.key_id,
                            "partner": k.partner,
                            "state": k.state.value,
                            "primary": k.key_id in primaries,
                            "created": k.created.isoformat(),
                        }
                        for k in keyring.keys
                    ],
                    "values_per_key": None if usage is None else dict(usage),
                },
                indent=2,
            )
        )
        return
    _print_keys(keyring)
    if usage is not None:
        from rich.table import Table

        table = Table(title="stored values per key id (Salesforce)")
        table.add_column("key id")
        table.add_column("values", justify="right")
        for key_id, count in sorted(usage.items()):
            table.add_row(key_id, str(count))
        print_table(table)
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
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Destroy key material for good: every value under it becomes unreadable (crypto-shredding)."""
    from sfsync.crypto._keyring import KeyState

    if (key_id is None) == (partner is None):
        raise UsageError("give either KEY_ID or --partner")
    provider = _settings_provider(ctx)
    with provider.locked(), _state_store(ctx) as store:
        keyring = _load_checked(provider, store)
        what = f"partner {partner!r}" if partner is not None else f"key {key_id}"
        confirm(f"Destroy {what}? Values under it can never be decrypted again.", yes)
        destroyed: list[str] = []
        if partner is not None:
            destroyed = keyring.destroy_partner(partner)
        elif key_id is not None:
            if keyring.get(key_id) is None:
                raise KeyringError(f"no key {key_id!r} in the keyring")
            keyring.set_state(key_id, KeyState.DESTROYED)
            destroyed = [key_id]
        _save_recorded(provider, keyring, store)
    if as_json:
        typer.echo(json.dumps({"destroyed": destroyed, "keyring_generation": keyring.generation}, indent=2))
        return
    console.print(
        f"destroyed {', '.join(destroyed)} (keyring generation {keyring.generation}); an older keyring file, such as "
        "a backup, is refused from now on, but it still holds the keys: destroy old backups too"
    )


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
    """Scan stored encrypted values; exit 0 only when everything is clean (1 otherwise).

    The fields checked are the mappings' encrypted fields plus every field the pinned (approved)
    field policy protects: removing ``encrypt`` from a mapping does not remove its field from
    the check, so plaintext written after such a downgrade is reported as not_a_token.
    """
    from sfsync.crypto._verify import verify_values

    with _state_store(ctx) as store:
        keyring = _load_checked(_settings_provider(ctx), store)
        from sfsync.sync._protect import load_pinned_policy

        pinned = load_pinned_policy(keyring, store)
    required = pinned.protected_fields() if pinned is not None else None
    if pinned is None and input_path is None:
        err_console.print("no approved field policy: checking the mappings' encrypted fields only")
    with stored_values(ctx, input_path, required=required) as values:
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
        typer.Option(
            "--skip-invalid",
            help="Leave values that cannot be decrypted (see `crypto verify`) untouched "
            "and list them, instead of stopping before anything is written.",
        ),
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
    with _state_store(ctx) as store:
        keyring = _load_checked(_settings_provider(ctx), store)
    on_error: Literal["raise", "skip"] = "skip" if skip_invalid else "raise"
    if input_path is None:
        from sfsync.mapping import load_mappings
        from sfsync.services.connect import connect_salesforce
        from sfsync.services.crypto_org import apply_reencryption

        settings = state(ctx).settings()
        with connect_salesforce(settings) as gateway:
            result = apply_reencryption(
                gateway,
                load_mappings(settings.mappings.paths),
                keyring,
                batch_size=batch_size,
                dry_run=dry_run,
                on_error=on_error,
            )
        if as_json:
            typer.echo(json.dumps({**result.to_dict(), "dry_run": dry_run}, indent=2))
        else:
            verb = "would rewrite" if dry_run else "rewrote"
            console.print(
                f"{result.planned} values under older keys; {verb} "
                f"{result.planned if dry_run else result.rewritten}, rejected {result.rejected}, "
                f"skipped {len(result.skipped)}",
                highlight=False,
            )
        _print_skipped(result.skipped)
        if result.rejected or result.skipped:
            raise typer.Exit(1)
        return
    from sfsync.crypto._verify import reencrypt_plan

    skipped: list[ReencryptSkip] = []
    with stored_values(ctx, input_path) as values:
        plan = reencrypt_plan(values, keyring, on_error=on_error, skipped=skipped)
    out: TextIO = output.open("w", encoding="utf-8") if output is not None else sys.stdout
    try:
        for item in plan:
            out.write(
                json.dumps(
                    {
                        "sobject": item.sobject,
                        "field": item.field,
                        "record_key": item.record_key,
                        "old_key_id": item.old_key_id,
                        "new_key_id": item.new_key_id,
                        "value": item.token,
                    }
                )
                + "\n"
            )
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
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


# ---------------------------------------------------------------------------------- field policy

policy_app = typer.Typer(
    help="The field policy: how each partner-submitted field reaches Salesforce (print, approve).",
    invoke_without_command=True,
)
app.add_typer(policy_app, name="policy")


@policy_app.callback()
def policy(
    ctx: typer.Context,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the reviewer's table as Markdown (default).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    reidentification: Annotated[
        bool,
        typer.Option(
            "--reidentification",
            help="Count the registrations in Salesforce that the clear and banded "
            "fields single out among the org's Accounts (exit 1 when any).",
        ),
    ] = False,
) -> None:
    """Print the field policy of the mappings and how it compares with the approved one."""
    if ctx.invoked_subcommand is not None:
        return
    if markdown and as_json:
        raise UsageError("give --markdown or --json, not both")
    from sfsync.mapping import load_mappings
    from sfsync.mapping._policy import field_policy, weakenings

    settings = state(ctx).settings()
    mappings = load_mappings(settings.mappings.paths)
    current = field_policy(mappings)
    pin_state = _pin_state(ctx)
    problems: list[str] | None = None
    if pin_state is not None and pin_state.get("document") is not None:
        problems = weakenings(pin_state["document"], current)
    risk = None
    if reidentification:
        from sfsync.services.connect import connect_salesforce
        from sfsync.services.crypto_policy import reidentification_from_org

        with connect_salesforce(settings) as gateway:
            risk = reidentification_from_org(gateway, mappings)
    if as_json:
        document = current.to_dict()
        document["approved"] = (
            None
            if pin_state is None
            else {k: v for k, v in pin_state.items() if k != "document"} | {"weaker_than_approved": problems}
        )
        if risk is not None:
            document["reidentification"] = risk.to_dict()
        typer.echo(json.dumps(document, indent=2, default=str))
    else:
        typer.echo(current.to_markdown(), nl=False)
        if pin_state is None:
            typer.echo("\nApproval: not checked (no keyring configured).")
        elif pin_state.get("document") is None:
            typer.echo(f"\nApproval: {pin_state['status']}.")
        else:
            typer.echo(
                f"\nApproval: approved {pin_state['approved_at']} by {pin_state['approved_by']}; "
                + (
                    "the mappings match it."
                    if not problems
                    else f"{len(problems)} field(s) weaker than approved:\n- " + "\n- ".join(problems)
                )
            )
        if risk is not None:
            typer.echo(
                f"\nRe-identification: {risk.singled_out} registration(s) singled out by the published fields "
                f"among {risk.accounts} customer Accounts."
            )
            for name, row in risk.per_mapping.items():
                typer.echo(
                    f"- {name}: {row['singled_out']} of {row['registrations']} singled out; smallest candidate "
                    f"set {row['smallest_candidate_set']}, median {row['median_candidate_set']}; compared: "
                    f"{', '.join(row['compared_fields']) or 'nothing'}"
                )
    if risk is not None and risk.singled_out:
        raise typer.Exit(1)


def _pin_state(ctx: typer.Context) -> dict[str, Any] | None:
    """The approval as recorded (None when no keyring is configured to authenticate it)."""
    from sfsync.sync._protect import load_pinned_policy

    settings = state(ctx).settings()
    if not settings.crypto.keyring.exists():
        return None
    try:
        provider = provider_from_settings(settings)
    except ConfigError:
        return None
    with _state_store(ctx) as store:
        keyring = _load_checked(provider, store)
        pinned = load_pinned_policy(keyring, store)
    if pinned is None:
        return {"status": "none recorded (run `sfsync crypto policy approve`)", "document": None}
    return {
        "status": "approved",
        "approved_at": pinned.approved_at.isoformat(),
        "approved_by": pinned.approved_by,
        "keyring_generation": pinned.keyring_generation,
        "document": pinned.document,
    }


@policy_app.command("approve")
def policy_approve(
    ctx: typer.Context,
    yes: YesOption = False,
) -> None:
    """Approve the mappings' field policy (a key holder's act): `run` then accepts it.

    Prints every field that becomes less protected than the approved policy before asking.
    """
    from sfsync.mapping import load_mappings
    from sfsync.mapping._policy import field_policy, seal_policy, weakenings
    from sfsync.sync._protect import FIELD_POLICY_PIN, load_pinned_policy

    settings = state(ctx).settings()
    mappings = load_mappings(settings.mappings.paths)  # refuses unclassified fields
    current = field_policy(mappings)
    provider = _settings_provider(ctx)
    with _state_store(ctx) as store:
        keyring = _load_checked(provider, store)
        try:
            pinned = load_pinned_policy(keyring, store)
        except KeyringError as exc:
            err_console.print(
                f"the recorded approval is not valid ({exc.message}); approving afresh", highlight=False, markup=False
            )
            pinned = None
        problems = weakenings(pinned.document, current, enabled_only=False) if pinned is not None else []
        for problem in problems:
            err_console.print(f"weaker: {problem}", highlight=False, markup=False, soft_wrap=True)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(current.counts().items()))
        question = (
            f"Approve the field policy ({counts})"
            + (f", making {len(problems)} field(s) less protected" if problems else "")
            + "?"
        )
        confirm(question, yes)
        store.set_pin(FIELD_POLICY_PIN, seal_policy(keyring, current, approved_by=_who()))
    console.print(f"approved the field policy ({counts})", highlight=False)


# ------------------------------------------------------------------------------------- rewrap


@app.command()
def rewrap(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", help="The new key-encryption key's provider: local, aws-kms or vault-transit.")
    ] = "local",
    new_master_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-master-key-file",
            help="With --to local: file (mode 0600) holding the new "
            "master key (make one with `sfsync crypto keygen --new-master-key`).",
        ),
    ] = None,
    kms_key_id: Annotated[str | None, typer.Option("--kms-key-id", help="With --to aws-kms: the KMS key.")] = None,
    vault_key: Annotated[str | None, typer.Option("--vault-key", help="With --to vault-transit: the key name.")] = None,
) -> None:
    """Re-wrap every key of the keyring under a new master key or a KMS/Vault key.

    The data keys do not change (nothing in Salesforce is rewritten); only the key that wraps
    them does. Afterwards, point the settings at the new master key or provider.
    """
    settings = state(ctx).settings()
    crypto = settings.crypto
    if to == "local":
        if new_master_key_file is None:
            raise UsageError("--to local needs --new-master-key-file")
        from sfsync.config import read_private_secret

        try:
            new_key = read_private_secret(new_master_key_file, "master key file")
        except ValueError as exc:
            raise UsageError(str(exc), ErrorContext(file=str(new_master_key_file))) from None
        if not new_key.get_secret_value():
            raise UsageError("the new master key file is empty", ErrorContext(file=str(new_master_key_file)))
        if crypto.master_key is not None and secrets.compare_digest(
            new_key.get_secret_value().encode(), crypto.master_key.get_secret_value().encode()
        ):
            raise UsageError("the new master key is the current one")
        new_crypto = crypto.model_copy(update={"provider": "local", "master_key": new_key})
    elif to == "aws-kms":
        if not kms_key_id:
            raise UsageError("--to aws-kms needs --kms-key-id")
        new_crypto = crypto.model_copy(update={"provider": "aws-kms", "kms_key_id": kms_key_id})
    elif to == "vault-transit":
        new_crypto = crypto.model_copy(update={"provider": "vault-transit", "vault_key": vault_key or crypto.vault_key})
    else:
        raise UsageError("--to must be local, aws-kms or vault-transit")
    old_provider = provider_from_settings(settings)
    new_provider = provider_from_settings(settings.model_copy(update={"crypto": new_crypto}))
    with old_provider.locked(), _state_store(ctx) as store:
        keyring = _load_checked(old_provider, store)
        new_provider.rewrap(keyring)
        from sfsync.sync._protect import record_keyring_generation

        record_keyring_generation(keyring, store)
        reloaded = new_provider.load()  # prove the new wrapping opens before anyone relies on it
        if set(reloaded.ids) != set(keyring.ids):
            raise KeyringError("the re-wrapped keyring does not hold the same keys; restore the previous file")
    console.print(
        f"re-wrapped {len(keyring)} keys under the {to} provider (keyring generation "
        f"{keyring.generation}); now point [crypto] at the new " + ("master key" if to == "local" else "provider"),
        highlight=False,
    )
