"""Shared FastAPI dependencies: a pooled database connection and the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import psycopg
from fastapi import Depends, Request


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


def get_now(request: Request) -> datetime:
    return request.app.state.clock() if hasattr(request.app.state, "clock") else datetime.now(UTC)


Conn = Annotated[psycopg.Connection, Depends(get_conn)]
Now = Annotated[datetime, Depends(get_now)]
