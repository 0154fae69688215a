"""Each service logs in to PostgreSQL as its own role (created by migration 0013): none
is a superuser or owns a table, and each may write only the tables it owns. The
migration role (whoever runs ``kawamori migrate``) owns the schema.

``kawamori migrate`` sets the roles' passwords from ``KAWAMORI_DB_PASSWORD_<SERVICE>``
(production); ``kawamori up`` gives them random ones kept in its data folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

SERVICES = ("ingest", "alerts", "notify", "shelters", "dashboard")


def role(service: str) -> str:
    if service not in SERVICES:
        raise ValueError(f"no database role for {service!r}")
    return f"kawamori_{service}"


def env_name(service: str) -> str:
    return f"KAWAMORI_DB_PASSWORD_{service.upper()}"


def passwords_from_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The services' passwords given in the environment; each at least 16 characters."""
    found = {service: env[env_name(service)] for service in SERVICES if env.get(env_name(service))}
    short = [env_name(service) for service, password in found.items() if len(password) < 16]
    if short:
        raise ValueError(f"{', '.join(short)}: at least 16 characters")
    return found


def set_passwords(conn: psycopg.Connection, passwords: Mapping[str, str]) -> None:
    for service, password in passwords.items():
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role(service)), sql.Literal(password)
            )
        )


def url_as(database_url: str, service: str, password: str) -> str:
    """``database_url`` with the service's role and password instead of the owner's."""
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{role(service)}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
