"""Structured logging for every process (structlog): readable in a terminal, JSON
in production. No personal data is ever logged."""

from __future__ import annotations

import logging
import sys

import structlog


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (a test runner may swap and
    close the stream it was when logging was configured)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(fmt: str = "console", level: int = logging.INFO) -> None:
    """``json``: one JSON object a line, ISO 8601 UTC times (for machines, production);
    ``console``: readable lines with the machine's local time (for people)."""
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
        stamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        stamper = structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S %z", utc=False)
    # changed in place: loggers already bound (structlog caches them on first use) keep
    # the list they were given, so a second configure — a command run in-process, a test
    # capturing logs — reaches them too
    processors = structlog.get_config()["processors"]
    processors[:] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        stamper,
        structlog.processors.format_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
