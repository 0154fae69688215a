"""The HTTP client the notifiers send with: urllib3 connection pools, kept alive per
host and shared by the worker's sending threads.

Why not httpx (used elsewhere in Kawamori): a delivery worker spends most of its CPU
inside the HTTP client. On the development VM one keep-alive POST costs 0.93 ms of CPU
with ``httpx.Client`` and 0.38 ms with a urllib3 pool (measured against the benchmark's
endpoints, 2,000 requests each; bench/README.md). Nothing else changes: no automatic
retries or redirects (the workers decide what a failure means), one timeout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError as TransportError

__all__ = ["Http", "Response", "TransportError", "json_bytes"]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]  # case-insensitive


class Http:
    """POSTs over kept-alive connections; raises :class:`TransportError` (timeouts,
    refused or reset connections) and returns every HTTP answer, 5xx included."""

    def __init__(self, *, timeout: float = 10.0, connections_per_host: int = 64) -> None:
        self._pools = urllib3.PoolManager(
            num_pools=256,  # hosts: one for LINE or a gateway, a few push services for Web Push
            maxsize=connections_per_host,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )

    def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> Response:
        answer = self._pools.request("POST", url, body=body, headers=dict(headers), redirect=False)
        return Response(answer.status, answer.headers)

    def close(self) -> None:
        self._pools.clear()


def json_bytes(value: Any) -> bytes:
    """A JSON request body: UTF-8, Japanese as it is, no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
