"""``kawamori notify …``: VAPID keys for Web Push and a preview of the message
templates (for operators and translators). A thin layer over the Python API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from kawamori.cli_support import fail
from notify.errors import NotifyError

app = typer.Typer(
    help="Resident notifications: keys, subscriptions and message previews (住民への通知).",
    no_args_is_help=True,
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


def _connection_and_key():
    from kawamori import db
    from kawamori.cli_support import services as _runtime
    from kawamori.cli_support import settings as _settings
    from notify.errors import SubscriberKeyError
    from notify.sealing import load_key

    settings = _settings()
    try:
        key = load_key(settings)
    except SubscriberKeyError as error:
        raise fail(console, error) from None
    return db.connect(_runtime(settings).database_url), key


def _ask_address(address: str | None) -> str:
    # prompted, so that a resident's number stays out of shell history and process lists
    return address if address is not None else typer.prompt("Address / 宛先", hide_input=False)


@app.command()
def subscribe(
    area: Annotated[list[str], typer.Option(help="Alert area id (repeat for several)")],
    channel: Annotated[str, typer.Option(help="gateway (phone, FAX, SMS, radio), email or line")] = "gateway",
    language: Annotated[str, typer.Option(help="ja, en or ja-easy")] = "ja",
    address: Annotated[
        str | None,
        typer.Option(help="e.g. fax:+81235001234; asked for when left out (keeps it out of history)"),
    ] = None,
) -> None:
    """Register a resident who asked by phone, on a paper form or at the counter (people
    without a smartphone).

    Staff-entered subscriptions are confirmed at once: no confirmation e-mail is sent (on
    the resident page an e-mail address waits until its owner confirms it). Gateway
    addresses (sms:, voice:, fax: or radio: and a number or zone) are taken only here.
    The address is stored sealed; nothing else about the person is kept. Prints the
    subscription id only.
    Example: [bold]kawamori notify subscribe --area area-kyoden-lower --language ja-easy[/bold]
    (then type fax:+81235001234)
    """
    from datetime import UTC, datetime

    from notify.subscriptions import subscribe as subscribe_address

    conn, key = _connection_and_key()
    with conn:
        try:
            subscription_id, _ = subscribe_address(
                conn,
                channel=channel,
                address=_ask_address(address),
                language=language,
                areas=area,
                key=key,
                now=datetime.now(UTC),
            )
        except NotifyError as error:
            raise fail(console, error) from None
    print(f"subscribed: {subscription_id}")


@app.command()
def forget(
    channel: Annotated[str, typer.Option(help="gateway, email, line or webpush")] = "gateway",
    address: Annotated[
        str | None, typer.Option(help="asked for when left out (keeps it out of history)")
    ] = None,
) -> None:
    """A deletion request: delete everything about one address (its subscription, queued
    messages and delivery log). Says whether there was anything to delete.
    Example: [bold]kawamori notify forget --channel gateway[/bold] (then type voice:+81235001234)
    """
    from notify.subscriptions import delete_address

    conn, key = _connection_and_key()
    with conn:
        try:
            deleted = delete_address(conn, channel=channel, address=_ask_address(address), key=key)
        except NotifyError as error:
            raise fail(console, error) from None
    print("deleted / 削除しました" if deleted else "no such subscription / 登録はありません")


@app.command()
def preview(
    language: Annotated[str, typer.Option(help="ja, en or ja-easy (the text catalogue)")] = "ja",
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
        raise fail(console, error) from None
    print(out.title)
    print("-" * 40)
    print(out.body)


@app.command()
def deliver(
    concurrency: Annotated[
        int, typer.Option(min=1, max=512, help="Sends in flight per channel (e-mail: a quarter of it)")
    ] = 32,
    lease: Annotated[
        float, typer.Option(min=1, help="Seconds a claimed delivery stays this worker's")
    ] = 30.0,
    deadline: Annotated[
        float, typer.Option(min=1, help="Minutes after an alert within which to keep retrying")
    ] = 180.0,
    once: Annotated[
        bool, typer.Option(help="Stop when no queued work is left (tests, catch-up runs)")
    ] = False,
) -> None:
    """Run the delivery worker: fan out new alert messages and send them to residents.

    Claims due deliveries from the database (several workers may run side by side),
    sends them on every configured channel, retries timeouts and 5xx with back-off
    until the deadline, and records each attempt in the notification log.
    Example: [bold]kawamori notify deliver --concurrency 32[/bold]
    """
    import signal
    import threading
    from datetime import timedelta

    import psycopg
    import structlog

    from kawamori import db
    from kawamori.cli_support import services as _runtime
    from kawamori.cli_support import settings as _settings
    from kawamori.waiting import StopWaiting, until_ready
    from notify.compose import SealedDirectory
    from notify.config import notifiers
    from notify.sealing import load_key
    from notify.worker import DEFAULT_CONCURRENCY, Policy, Worker
    from shelters.service import NearestShelters

    log = structlog.get_logger("notify.deliver")
    settings = _settings()
    try:
        channels = notifiers(settings)
        if not channels:
            console.print("[red]No notification channel is configured (docs/notifications.md).[/red]")
            raise typer.Exit(2)
        key = load_key(settings)
    except NotifyError as error:  # a bad channel setting, no subscriber key
        raise fail(console, error) from None
    policy = Policy(
        lease=timedelta(seconds=lease),
        deadline=timedelta(minutes=deadline),
        concurrency={
            c: (max(1, concurrency // 4) if c == "email" else concurrency) for c in DEFAULT_CONCURRENCY
        },
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    database_url = settings.database_url or _runtime(settings).database_url
    try:  # started while the database is down: wait for it
        conn = until_ready(
            lambda: db.connect(database_url, application_name="kawamori-deliver"),
            what="database",
            errors=(psycopg.OperationalError,),
            stopping=stopping,
        )
    except StopWaiting:
        return
    with conn:
        worker = Worker(
            conn,
            notifiers=channels,
            directory=SealedDirectory(key, settings.links_url),
            policy=policy,
            shelters=NearestShelters().index,
            connect=lambda: db.connect(database_url, application_name="kawamori-fan-out"),
            journal_dir=settings.data_dir / "deliver-journal",
            zone=settings.zone,
        )
        log.info("deliver.start", worker=worker.name, channels=sorted(worker.notifiers))
        try:
            stats = worker.run(stopping, until_idle=once)
        except KeyboardInterrupt:
            stats = worker.stats
        finally:
            worker.close()
    log.info("deliver.stop", **stats)


@app.command("line-menu")
def line_menu(
    image_dir: Annotated[
        str | None,
        typer.Option(
            "--image-dir",
            help="a folder with the city's own 2500×843 PNGs named ja.png, ja-easy.png, en.png "
            "(default: drawn here with fonts-noto-cjk)",
        ),
    ] = None,
) -> None:
    """Create the LINE rich menu (check-in, rescue request, my timeline, nearest shelter)
    in 日本語, やさしい日本語 and English, and make the Japanese one the default. Needs
    KAWAMORI_LINE_CHANNEL_ACCESS_TOKEN and KAWAMORI_PUBLIC_URL.

    Example: kawamori notify line-menu
    """
    from pathlib import Path

    from kawamori.cli_support import settings as _settings
    from notify.channels.http import Http
    from notify.line_menu import MenuError, create_menus, menu_image

    settings = _settings()
    if settings.line_channel_access_token is None or not settings.public_url:
        raise fail(
            console, NotifyError("set KAWAMORI_LINE_CHANNEL_ACCESS_TOKEN and KAWAMORI_PUBLIC_URL first")
        )

    def image(language: str) -> bytes:
        return (Path(image_dir) / f"{language}.png").read_bytes() if image_dir else menu_image(language)

    http = Http(timeout=30)
    try:
        made = create_menus(
            http,
            api_url=settings.line_api_base_url,
            access_token=settings.line_channel_access_token.get_secret_value(),
            public_url=settings.public_url,
            image=image,
        )
    except (MenuError, OSError) as error:
        raise fail(console, error) from None
    finally:
        http.close()
    for language, menu_id in made.items():
        console.print(f"{language}: {menu_id}")
