"""``sfsync demo`` and ``sfsync init``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sfsync.cli._common import console, err_console, print_table
from sfsync.errors import UsageError

if TYPE_CHECKING:  # the demo service (everything) loads when the command runs, not when `sfsync` starts
    from sfsync.services.demo import DemoResult


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
    app.command("init")(init_command)


def demo_command(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to build the demo (replaced if it holds an earlier demo).")
    ] = Path("sfsync-demo"),
) -> None:
    """Run the whole product offline: a sample portal, a local Salesforce org, sync, conflicts, crypto.

    Builds DIR with a SQLite portal of sample registrations, a local keyring and a local org
    (FakeSalesforce, saved to org.json), then validates the mappings, runs a full and an
    incremental sync, scans for channel conflicts and verifies the encryption, and prints a report.
    """

    from sfsync.services.demo import run_demo

    def progress(text: str) -> None:
        err_console.print(f"[dim]… {text}[/]", highlight=False)

    result = run_demo(directory, progress=progress)
    print_demo(result)
    _print_desk_login(result.directory)


def _print_desk_login(directory: Path) -> None:
    """The channel desk on the demo's org: one login per role (password random per demo)."""
    from sfsync.config import load_settings
    from sfsync.desk.demo import DEMO_USERS, add_demo_users

    password = add_demo_users(load_settings(directory / "sfsync.toml", environ={}))
    names = ", ".join(f"{name} ({role.value})" for name, role in DEMO_USERS)
    console.print(
        f"channel desk: sfsync --config {directory}/sfsync.toml desk\n"
        f"  then open http://127.0.0.1:8765/ and log in as {names}, password: {password}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _count(report: object, attribute: str, direction: str | None = None) -> int:
    summaries = getattr(report, "summaries", [])
    return sum(getattr(s, attribute) for s in summaries if direction is None or s.direction == direction)


def print_demo(result: DemoResult) -> None:
    from rich.panel import Panel
    from rich.table import Table

    first, second, idle = result.first_sync, result.second_sync, result.idle_sync
    console.rule("[bold]sfsync demo[/]")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if result.replaced_previous:
        console.print(f"The earlier demo in {result.directory} was replaced by this one.", highlight=False)
    console.print(
        f"A partner portal with [bold]{result.registrations}[/] registrations and a local Salesforce org, "
        "no network, no Salesforce account.\n",
        highlight=False,
    )
    console.print(
        f"1. Mappings: {result.mappings} files validated offline and against the org's describe: "
        f"{result.mapping_problems} problems.",
        highlight=False,
    )
    if first is not None:
        pushed = _count(first, "created", "push") + _count(first, "updated", "push")
        rate = first.api_calls / pushed if pushed else 0.0
        console.print(
            f"2. First sync: {pushed} registrations pushed to Salesforce in {first.api_calls} API calls "
            f"({rate:.3f} calls per record; sObject Collections send 200 records a call).",
            highlight=False,
        )
    if second is not None:
        console.print(
            f"3. Channel managers decided {result.decisions} registrations in Salesforce; partners edited "
            f"{result.partner_edits} in the portal (5 new amounts, 1 withdrawal). Incremental sync: "
            f"{_count(second, 'updated', 'push')} pushed, {_count(second, 'written_back', 'pull')} decisions "
            f"written back to the portal, {second.api_calls} API calls.",
            highlight=False,
        )
    if idle is not None:
        written = sum(s.written for s in idle.summaries)
        console.print(
            f"   A rerun with nothing changed wrote {written} records and spent {idle.api_calls} API calls "
            "(reads only).",
            highlight=False,
        )

    table = Table(
        title=f"4. What a direct rep sees in Salesforce for {result.rep_record}, beside the portal", show_lines=False
    )
    table.add_column("Salesforce field")
    table.add_column("in Salesforce (direct rep)", overflow="fold")
    table.add_column("in the portal (partner)", overflow="fold")
    for field, salesforce_value, portal_value in result.rep_view:
        table.add_row(field, salesforce_value, portal_value)
    print_table(table)

    planted = {p.registration_number for p in result.planted}
    found = {str(c.get("registration_number")) for c in result.conflicts}
    console.print(
        f"\n[bold]5. Channel conflicts found: {len(result.conflicts)}[/] "
        f"({len(planted & found)} of the {len(planted)} planted collisions; channel managers see them as "
        "Channel_Conflict__c records):",
        highlight=False,
    )
    for conflict in result.conflicts[:10]:
        console.print(
            f"  [bold]{conflict.get('severity', '')}[/] {conflict.get('opportunity_name') or ''}: "
            f"{conflict.get('reason', '')}",
            highlight=False,
        )
    if len(result.conflicts) > 10:
        console.print(f"  ... and {len(result.conflicts) - 10} more (`sfsync conflicts list`)", highlight=False)

    verify = result.verify
    totals = verify.get("total", 0)
    keys = verify.get("key_ids", {})
    console.print(
        f"6. crypto verify: {totals} stored values checked, "
        + ("[green]clean[/]" if result.verify_clean else "[red]problems found[/]")
        + f" (keys in use: {', '.join(f'{k}: {v}' for k, v in keys.items()) or 'none'}); every value decrypts "
        "only in its own record and field.",
        highlight=False,
    )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.policy_counts.items()))
    console.print(
        f"7. Field policy (approved by the key holder; `sfsync crypto policy --markdown`): {counts}. "
        f"Published clear and banded fields single out {result.singled_out} registration(s) among "
        f"{result.customer_accounts} customer Accounts.",
        highlight=False,
    )
    if result.shredded_partner:
        console.print(
            f"8. Crypto-shredded partner {result.shredded_partner} (`sfsync crypto destroy --partner`): "
            f"{result.shredded_values} of its values can never be decrypted again; {result.intact_values} values "
            f"of the other partners still decrypt; {result.other_problems} other problems.",
            highlight=False,
        )
    console.print(
        Panel.fit(
            f"{result.total_api_calls} Salesforce API calls in all, {result.seconds:.1f} s.\n"
            f"Everything is in {result.directory}/ - try:\n"
            f"  sfsync --config {result.directory}/sfsync.toml status\n"
            f"  sfsync --config {result.directory}/sfsync.toml run --dry-run\n"
            f"  sfsync --config {result.directory}/sfsync.toml crypto verify",
            title="done",
        ),
    )


def init_command(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Directory to scaffold (created if missing; default: here).")
    ] = None,
    legacy_directory: Annotated[Path | None, typer.Argument(hidden=True, show_default=False)] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite sfsync.toml and the shipped mapping files (mapping files you added are kept)."
        ),
    ] = False,
) -> None:
    """Scaffold a working directory: sfsync.toml with every setting, the shipped mappings, a .gitignore."""
    from sfsync.services.init import init_directory

    if directory is not None and legacy_directory is not None and directory != legacy_directory:
        raise UsageError("give the directory once: --dir DIR")
    directory = directory or legacy_directory or Path(".")
    written = init_directory(directory, force=force)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(
        f"next: edit {directory / 'sfsync.toml'}, set your secrets in the environment, then run "
        f"`sfsync --config {directory / 'sfsync.toml'} mappings validate`",
        highlight=False,
    )
    suggested = Path.home() / ".config" / "sfsync" / "master.key"
    console.print(
        f"keep the master key outside {directory.resolve()}: e.g. `sfsync crypto keygen --new-master-key > "
        f'{suggested}` (then chmod 600 it) and set [crypto] master_key_file = "{suggested}", or use '
        'SFSYNC_CRYPTO__MASTER_KEY, AWS KMS or Vault (provider = "aws-kms" / "vault-transit")',
        highlight=False,
    )
