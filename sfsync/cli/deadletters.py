"""``sfsync deadletters``: inspect, retry or discard records that could not be synced.

Dead letters hold a Salesforce status code, a scrubbed message and field names — never values —
so listing them is safe in any terminal or log.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from sfsync.cli._common import confirm, console, err_console, print_table, state, state_store_missing
from sfsync.errors import SfsyncError

if TYPE_CHECKING:  # the state store (SQLAlchemy) loads when a command runs, not when `sfsync` starts
    from sfsync.sync._state import DeadLetter, StateStore

app = typer.Typer(no_args_is_help=True, help="Inspect, retry or discard rejected records.")


@contextlib.contextmanager
def _handled() -> Iterator[None]:
    """sfsync errors -> message + exit code, also when the group runs outside ``cli.main``."""
    try:
        yield
    except SfsyncError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def _open(ctx: typer.Context) -> StateStore | None:
    url = state(ctx).settings().state.url
    if state_store_missing(url):
        return None
    from sfsync.sync._state import StateStore

    return StateStore(url)


def _as_json(letter: DeadLetter) -> dict[str, Any]:
    return letter.model_dump(mode="json")


def _when(letter_value: Any) -> str:
    return letter_value.isoformat(timespec="seconds") if letter_value else "-"


def _short(letter_value: Any) -> str:
    """Compact UTC time for the table (``show`` gives the full ISO form)."""
    return letter_value.strftime("%Y-%m-%d %H:%MZ") if letter_value else "-"


def _not_found(letter_id: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] no dead letter with id {letter_id}", highlight=False)
    return typer.Exit(2)


class Direction(enum.StrEnum):
    push = "push"
    pull = "pull"


@app.command("list")
def list_(
    ctx: typer.Context,
    mapping: Annotated[str | None, typer.Option("--mapping", "-m", help="Only this mapping.")] = None,
    direction: Annotated[
        Direction | None,
        typer.Option("--direction", help="Only this direction: push (to Salesforce) or pull (to the portal)."),
    ] = None,
    all_states: Annotated[bool, typer.Option("--all", help="Include discarded letters.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List dead letters (open, retry requested, exhausted)."""
    with _handled():
        store = _open(ctx)
        letters: list[DeadLetter] = []
        if store is not None:
            with store:
                chosen: Literal["push", "pull"] | None = (
                    "push" if direction is Direction.push else "pull" if direction is Direction.pull else None
                )
                if all_states:
                    letters = store.dead_letters(
                        mapping=mapping,
                        states=("open", "retry_requested", "exhausted", "discarded"),
                        direction=chosen,
                    )
                else:
                    letters = store.dead_letters(mapping=mapping, direction=chosen)
    if as_json:
        typer.echo(json.dumps([_as_json(x) for x in letters], indent=2))
        return
    if not letters:
        console.print("no dead letters")
        return
    from rich.table import Table

    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("id", "mapping", "dir", "record", "status", "attempts", "state", "last seen", "next attempt"):
        table.add_column(column, overflow="fold")
    for x in letters:
        table.add_row(
            str(x.id),
            x.mapping,
            x.direction,
            x.record_key,
            x.status_code,
            str(x.attempts),
            x.state,
            _short(x.last_seen),
            _short(x.next_attempt_at) if x.state == "open" else "-",
        )
    print_table(table)


@app.command()
def show(
    ctx: typer.Context,
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="Dead letter id (see `list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one dead letter in full."""
    with _handled():
        store = _open(ctx)
        letter = None
        if store is not None:
            with store:
                letter = store.dead_letter(letter_id)
    if letter is None:
        raise _not_found(letter_id)
    if as_json:
        typer.echo(json.dumps(_as_json(letter), indent=2))
        return
    rows = [
        ("id", str(letter.id)),
        ("mapping", letter.mapping),
        ("direction", letter.direction),
        ("record", letter.record_key),
        ("status code", letter.status_code),
        ("message", letter.message),
        ("fields", ", ".join(letter.fields) or "-"),
        ("attempts", str(letter.attempts)),
        ("state", letter.state),
        ("first seen", _when(letter.first_seen)),
        ("last seen", _when(letter.last_seen)),
        ("next attempt", _when(letter.next_attempt_at)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"{key:<{width}}  {value}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def retry(
    ctx: typer.Context,
    letter_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="Dead letter id.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every open or exhausted letter.")] = False,
) -> None:
    """Mark a dead letter (or --all) due now; the next `sfsync run` retries it."""
    if (letter_id is None) == (not all_):
        err_console.print("[bold red]error:[/] give either a dead letter ID or --all", highlight=False)
        raise typer.Exit(2)
    with _handled():
        store = _open(ctx)
        marked = 0
        if store is not None:
            with store:
                marked = store.request_retry(letter_id)
    if letter_id is not None and marked == 0:
        raise _not_found(letter_id)
    console.print(f"{marked} dead letter(s) marked for retry; the next `sfsync run` retries them")


@app.command()
def discard(
    ctx: typer.Context,
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="Dead letter id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Give up on a dead letter: it stays on record but is never retried."""
    with _handled():
        store = _open(ctx)
        if store is None:
            raise _not_found(letter_id)
        with store:
            letter = store.dead_letter(letter_id)
            if letter is None:
                raise _not_found(letter_id)
            confirm(f"discard dead letter {letter_id} ({letter.mapping} {letter.direction} {letter.record_key})?", yes)
            store.discard(letter_id)
    console.print(f"dead letter {letter_id} discarded")
