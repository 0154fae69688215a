"""``kawamori notify …``: VAPID keys for Web Push and a preview of the message
templates (for operators and translators). A thin layer over the Python API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from notify.errors import NotifyError

app = typer.Typer(
    help="Resident notifications: keys and message previews (住民への通知).", no_args_is_help=True
)
console = Console(stderr=True)


@app.command("vapid-keys")
def vapid_keys() -> None:
    """Generate a VAPID key pair for Web Push.

    Prints the private key as a KAWAMORI_VAPID_PRIVATE_KEY line for your secrets file
    and the public key the resident page gives browsers (applicationServerKey). Keep the
    private key secret; changing it invalidates every browser subscription.
    Example: [bold]kawamori notify vapid-keys >> /etc/kawamori/secrets.env[/bold]
    """
    from notify.channels.webpush import generate_vapid_keys

    private, public = generate_vapid_keys()
    print(f"KAWAMORI_VAPID_PRIVATE_KEY={private}")
    print(f"# public key (applicationServerKey): {public}")


@app.command("subscriber-key")
def subscriber_key() -> None:
    """Generate the subscriber key that seals residents' addresses.

    Prints a KAWAMORI_SUBSCRIBER_KEY line for your secrets file. Keep it secret and back
    it up apart from the database: without it no stored address can be read, and every
    unsubscribe link changes. There is no default key.
    Example: [bold]kawamori notify subscriber-key >> /etc/kawamori/secrets.env[/bold]
    """
    from notify.sealing import generate_key

    print(f"KAWAMORI_SUBSCRIBER_KEY={generate_key()}")


@app.command()
def preview(
    language: Annotated[str, typer.Option(help="A template file's name: ja, en, ja-easy, …")] = "ja",
    channel: Annotated[str, typer.Option(help="line, webpush, email, sms, voice, fax or radio")] = "line",
    level: Annotated[int, typer.Option(min=1, max=5, help="警戒レベル of the sample alert")] = 4,
    exercise: Annotated[bool, typer.Option(help="Render the sample as an exercise (訓練)")] = False,
) -> None:
    """Render a sample alert with the templates, to check a translation or a channel.

    Example: [bold]kawamori notify preview --language ja-easy --channel sms[/bold]
    """
    from notify.render import Channel, render
    from notify.sample import sample_message, sample_shelters

    try:
        out = render(
            sample_message(level=level, exercise=exercise),
            language=language,
            channel=Channel(channel),
            shelters=sample_shelters(),
            resident_url="https://bousai.example.jp/r/oyama",
            unsubscribe_url="https://bousai.example.jp/u/example",
        )
    except (NotifyError, ValueError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    print(out.title)
    print("-" * 40)
    print(out.body)
