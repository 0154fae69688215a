"""``kawamori staff …``: staff accounts for the dashboard (a thin layer over
:mod:`kawamori.staff`). Run on the server, these commands act as the administrator."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kawamori import db, staff
from kawamori.cli_support import database_url, fail
from kawamori.model import Role

staff_app = typer.Typer(help="Staff accounts for the dashboard and alert console.", no_args_is_help=True)
console = Console(stderr=True)


def _read_password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(
        "Password / パスワード", hide_input=True, confirmation_prompt="Again / もう一度", err=True
    )


@staff_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name: lower-case letters, digits, . _ -")],
    role: Annotated[Role, typer.Option(help="viewer, operator, approver or admin")] = Role.viewer,
    name: Annotated[str, typer.Option(help="The person's name as shown in the audit trail")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of standard input")
    ] = False,
) -> None:
    """Create a staff account. Asks for the password twice (at least 12 characters, not a
    common one); there is no default password.

    Example: [bold]kawamori staff add sato --role operator --name "佐藤 花子"[/bold]
    """
    password = _read_password(password_stdin)
    with db.connect(database_url()) as conn:
        try:
            account = staff.create_user(
                conn,
                username=username,
                display_name=name,
                role=role,
                password=password,
                now=datetime.now(UTC),
            )
        except staff.StaffError as error:
            raise fail(console, error) from None
    console.print(f"Created {account.username} ({account.role}) / 作成しました")


@staff_app.command("list")
def list_() -> None:
    """List staff accounts. Example: [bold]kawamori staff list[/bold]"""
    with db.connect(database_url()) as conn:
        accounts = staff.list_users(conn)
    table = Table(title="Staff / 職員")
    for column in ("user", "name", "role", "state"):
        table.add_column(column)
    for account in accounts:
        state = "disabled / 無効" if account.disabled else "active / 有効"
        table.add_row(account.username, account.display_name, account.role, state)
    Console().print(table)


@staff_app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="The account to disable")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the account again instead")] = False,
) -> None:
    """Disable an account and sign it out everywhere (or --enable it again).

    Example: [bold]kawamori staff disable sato[/bold]
    """
    with db.connect(database_url()) as conn:
        try:
            account = staff.set_disabled(conn, username=username, disabled=not enable, now=datetime.now(UTC))
        except staff.StaffError as error:
            raise fail(console, error) from None
    console.print(f"{account.username}: {'disabled / 無効' if account.disabled else 'enabled / 有効'}")


@staff_app.command("role")
def role(
    username: Annotated[str, typer.Argument(help="The account")],
    new_role: Annotated[Role, typer.Argument(metavar="ROLE", help="viewer, operator, approver or admin")],
) -> None:
    """Change an account's role; it applies from the person's next click.

    Example: [bold]kawamori staff role sato approver[/bold]
    """
    with db.connect(database_url()) as conn:
        try:
            account = staff.set_role(conn, username=username, role=new_role, now=datetime.now(UTC))
        except staff.StaffError as error:
            raise fail(console, error) from None
    console.print(f"{account.username}: {account.role}")


@staff_app.command("password")
def password(
    username: Annotated[str, typer.Argument(help="The account")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of standard input")
    ] = False,
) -> None:
    """Set a new password (asked twice) and sign the account out everywhere.

    Example: [bold]kawamori staff password sato[/bold]
    """
    secret = _read_password(password_stdin)
    with db.connect(database_url()) as conn:
        try:
            account = staff.set_password(conn, username=username, password=secret, now=datetime.now(UTC))
        except staff.StaffError as error:
            raise fail(console, error) from None
    console.print(f"New password set for {account.username} / パスワードを変更しました")


@staff_app.command("unlock")
def unlock(
    username: Annotated[
        str | None, typer.Argument(help="The account whose failed sign-ins to forget")
    ] = None,
    client: Annotated[str | None, typer.Option(help="Forget the failures of this client address")] = None,
) -> None:
    """Forget failed sign-ins, ending the growing delays they cause (a person locked out
    by someone else's guesses, a shared office address).

    Example: [bold]kawamori staff unlock sato[/bold]
    or [bold]kawamori staff unlock --client 203.0.113.9[/bold]
    """
    with db.connect(database_url()) as conn:
        try:
            count = staff.unlock(conn, username=username, client=client)
        except staff.StaffError as error:
            raise fail(console, error) from None
    console.print(f"Forgot {count} failed sign-ins / 失敗記録 {count} 件を消去しました")


@staff_app.command("totp")
def totp_command(
    username: Annotated[str, typer.Argument(help="The account")],
    remove: Annotated[bool, typer.Option("--remove", help="Remove the second factor (a lost phone)")] = False,
) -> None:
    """Give an account a second factor (TOTP, RFC 6238): prints an otpauth:// address
    for the person's authenticator app, once. From then on signing in asks for its
    6-digit code. Approvers and admins need one when KAWAMORI_STAFF_REQUIRE_TOTP is set.

    Example: [bold]kawamori staff totp tanaka[/bold]
    """
    from kawamori import totp

    with db.connect(database_url()) as conn:
        try:
            secret = staff.set_totp(conn, username=username, enable=not remove, now=datetime.now(UTC))
        except staff.StaffError as error:
            raise fail(console, error) from None
    if secret is None:
        console.print(f"{username}: second factor removed / 二段階認証を解除しました")
        return
    print(totp.provisioning_uri(secret, username=staff.normalise_username(username)))
    console.print(
        "Add this to the authenticator app (shown once) / 認証アプリに登録してください（一度だけ表示）"
    )
