"""The dashboard application: ``create_app`` wires routers, static assets and the
database pool; ``kawamori dashboard`` serves it with uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import psycopg
import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.cap import DEFAULT_SENDER_NAME
from alerts.policy import ApprovalPolicy
from alerts.store import DEFAULT_SENDER
from dashboard import health, openapi
from dashboard.basemap import TILE_PATH, Basemap, BasemapError, PmtilesArchive, basemap
from dashboard.basemap import from_settings as basemap_from_settings
from dashboard.deps import SESSION_COOKIE
from dashboard.live import AlertFeed
from dashboard.pages import secure_headers, templates
from dashboard.production import ProductionTransport
from dashboard.routers import (
    alerts,
    auth,
    cap,
    line_webhook,
    places,
    rescue,
    residents,
    review,
    sensors,
    station_settings,
    stations,
)
from dashboard.routers import shelter_staff as shelters_staff
from dashboard.routers import shelters as shelters_api
from dashboard.security import SecurityConfig, SecurityMiddleware
from kawamori.clock import DEFAULT_ZONE
from notify.channels.http import Http
from shelters.crowding import DEFAULT_BANDS, Bands

HERE = Path(__file__).parent
LEAFLET = HERE / "node_modules" / "leaflet" / "dist"
SWAGGER_UI = Path(swagger_ui_bundle.swagger_ui_path)  # from a package, served from here: no CDN
__all__ = ["BasemapError", "basemap_from_settings", "create_app"]  # what the CLI uses


none_basemap = basemap("none")  # tests and apps that choose none: rivers and areas only


def create_app(
    database_url: str,
    *,
    clock: Callable[[], datetime] | None = None,
    shelter_bands: Bands = DEFAULT_BANDS,
    public_url: str | None = None,
    cap_sender_name: str = DEFAULT_SENDER_NAME,
    cap_sender: str = DEFAULT_SENDER,
    policy: ApprovalPolicy | None = None,
    residents_config: residents.ResidentConfig | None = None,
    security: SecurityConfig | None = None,
    broker_address: tuple[str, int] | None = None,
    production: bool = False,
    basemap: Basemap | None = None,
    zone: tzinfo = DEFAULT_ZONE,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool.open(wait=False)
        yield
        await app.state.alert_feed.close()
        app.state.line_http.close()
        app.state.pool.close()

    app = FastAPI(
        title="Kawamori 川守",
        summary="River levels, stages and shelters for disaster staff / 河川水位・警戒段階・避難所",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from the swagger-ui-bundle package, not a CDN
        redoc_url=None,
    )
    security = security or SecurityConfig()
    app.state.security = security
    app.add_middleware(SecurityMiddleware, config=security)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 405:  # Allow: every method of the path, not just one route's
            allowed = sorted(
                {
                    m
                    for r in app.routes
                    if isinstance(r, APIRoute) and r.path_regex.match(request.url.path)
                    for m in r.methods
                }
            )
            error.headers = {**(error.headers or {}), "Allow": ", ".join(allowed)}
        return await http_exception_handler(request, error)

    @app.exception_handler(psycopg.DataError)
    async def unstorable(request: Request, error: psycopg.DataError) -> JSONResponse:
        # a NUL byte in a JSON string or form field, a number out of a column's range:
        # the client's mistake, found where the database refuses it (never a 500)
        return JSONResponse({"detail": "a value holds a NUL byte or is out of range"}, status_code=400)

    app.state.pool = ConnectionPool(
        database_url,
        min_size=1,
        max_size=8,
        open=False,
        # autocommit, as everywhere else: a write is committed before its response is sent
        kwargs={"application_name": "kawamori-dashboard", "autocommit": True},
    )
    app.state.clock = clock or (lambda: datetime.now(UTC))
    app.state.shelter_bands = shelter_bands
    # absolute links (CAP, Atom, confirmation e-mails); unset: the request's own address
    app.state.public_url = public_url
    app.state.cap_sender_name = cap_sender_name
    # one CAP sender per installation: staff actions write outbox messages under the same
    # sender as the evaluator, so Updates and all-clears keep their references
    app.state.cap_sender = cap_sender
    app.state.policy = policy or ApprovalPolicy()  # the same policy file as the evaluator's
    app.state.alert_feed = AlertFeed(database_url)
    app.state.line_http = Http(timeout=10)  # LINE replies: the notifiers' client, not a second stack
    app.state.residents = (
        residents_config or residents.ResidentConfig()
    )  # the resident page, subscriptions, LINE
    app.state.broker_address = broker_address  # /api/health checks it is reachable
    app.state.basemap = basemap or none_basemap
    app.state.zone = zone  # the city's time zone: times on pages, in CAP and in messages
    if production:  # https and __Host- session cookies whatever the proxy says
        app.add_middleware(ProductionTransport, host_cookies=[SESSION_COOKIE, shelters_staff.COOKIE])
    app.include_router(health.router)
    app.include_router(stations.router)
    app.include_router(station_settings.router)
    app.include_router(places.router)
    app.include_router(cap.router)
    app.include_router(auth.router)
    app.include_router(alerts.router)
    app.include_router(sensors.router)
    app.include_router(review.router)
    app.include_router(shelters_api.router)
    app.include_router(shelters_staff.router)
    app.include_router(residents.router)
    app.include_router(line_webhook.router)
    app.include_router(rescue.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/shelters/static", StaticFiles(directory=shelters_staff.STATIC), name="shelters-static")
    app.mount("/vendor/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui")
    if LEAFLET.exists():
        app.mount("/vendor/leaflet", StaticFiles(directory=LEAFLET), name="leaflet")

    chosen = app.state.basemap
    if chosen.pmtiles is not None:
        archive = PmtilesArchive(chosen.pmtiles)

        @app.get(TILE_PATH, include_in_schema=False)
        def tile(z: int, x: int, y: int) -> Response:
            """The offline basemap's raster tiles, from the PMTiles file."""
            data = archive.tile(z, x, y)
            if data is None:
                raise StarletteHTTPException(404, f"no tile {z}/{x}/{y} in the map file")
            cache = {"Cache-Control": "public, max-age=86400"}
            return Response(data, media_type=archive.media_type, headers=cache)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def map_page(request: Request, lang: str | None = None) -> HTMLResponse:
        language = lang if lang in {"ja", "en"} else "ja"
        # the tiles' origin only (none for this site's own tiles); Leaflet and badges style inline
        headers = secure_headers(images=chosen.image_origin, styles="'unsafe-inline'")
        headers["Cache-Control"] = "no-cache"
        context = {"lang": language, "leaflet": LEAFLET.exists(), "basemap": chosen.page()}
        return templates.TemplateResponse(request, "map.html", context, headers=headers)

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> Response:
        """Swagger UI from the swagger-ui-bundle package (no CDN, no inline script)."""
        return Response(
            openapi.SWAGGER_PAGE,
            media_type="text/html; charset=utf-8",
            headers=secure_headers(styles="'unsafe-inline'"),
        )

    openapi.install(app)
    return app
