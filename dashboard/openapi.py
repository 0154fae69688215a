"""The OpenAPI document, true to what the API answers: every error status an operation
can give is listed with the one error shape (``{"detail": …}``), and /docs is Swagger
UI served from the swagger-ui-bundle package.

Errors an operation can give, beyond its own success:

* every operation: 400 (a NUL byte or an unreadable request), 422 (validation: a list
  of problems, or one sentence);
* operations with a request body: 413 (larger than the body limit);
* operations that take an id in the path: 404;
* staff operations (a ``kawamori_session`` cookie): 401 without a session, 403 for a
  missing CSRF token, a role too low or a password that must be changed first;
* what the route declares itself (429, 503, 409 …).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

SWAGGER_PAGE = b"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Kawamori API</title>
  <link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/vendor/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/static/swagger-init.js"></script>
</body>
</html>
"""


def errors(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: its own error statuses (the shape is added by
    :func:`document`); ``described``: other statuses, e.g. ``s303="to the page"``."""
    out: dict[int | str, dict[str, Any]] = {
        code: {"description": DESCRIPTIONS.get(code, "Error")} for code in codes
    }
    for name, text in described.items():
        out[int(name.lstrip("s"))] = {"description": text}
    return out


ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "title": "Detail",
            "description": "one sentence, or (validation) a list of problems",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                {
                    "type": "object",
                    "description": "a shelter event batch: which event was refused and why",
                    "required": ["message", "index", "id"],
                    "properties": {
                        "message": {"type": "string"},
                        "index": {"type": "integer"},
                        "id": {"type": "string"},
                    },
                },
            ],
        }
    },
}

DESCRIPTIONS = {
    400: "Bad request: a NUL byte, or a request that cannot be read",
    401: "Not signed in (no staff session, or it has ended)",
    403: "Missing or wrong CSRF token, a role too low, or a password to change first",
    404: "Not found",
    409: "Conflict",
    413: "The request body is too large",
    422: "Validation error",
    429: "Too many requests; Retry-After says when to try again",
    503: "Not configured here, or a dependency is down",
}


def _error(code: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS.get(code, "Error"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _is_staff(operation: dict) -> bool:
    return bool(operation.get("security"))


def _own_model(response: dict) -> bool:
    """Whether a route declared its own body for an error status (e.g. /api/health's
    report with its 503), which the common error shape must not replace."""
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return bool(ref) and not ref.endswith(("/HTTPValidationError", "/Error"))


def document(schema: dict) -> dict:
    """Add the error responses every operation can give (see the module docstring)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    components.setdefault(
        "ValidationError",
        {
            "title": "ValidationError",
            "type": "object",
            "required": ["loc", "msg", "type"],
            "properties": {
                "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                "msg": {"type": "string"},
                "type": {"type": "string"},
            },
        },
    )
    components.pop("HTTPValidationError", None)
    _no_nul(schema["paths"])
    _no_nul(components)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = {400, 422}
            if "requestBody" in operation:
                codes.add(413)
            if "{" in path:
                codes.add(404)
            if _is_staff(operation):
                codes |= {401, 403}
            for code in sorted(codes):
                responses.setdefault(str(code), _error(code))
            html = "text/html" in responses.get("200", {}).get("content", {})
            for code, response in responses.items():
                if code.startswith(("4", "5")) and not _own_model(response):
                    response["content"] = dict(_error(int(code))["content"])
                    if html:  # a form page answers its own errors as the page again
                        response["content"]["text/html"] = {"schema": {"type": "string"}}
                    if response.get("description") in (None, "", "Successful Response"):
                        response["description"] = DESCRIPTIONS.get(int(code), "Error")
    return schema


NO_NUL = "^[^\\x00]*$"


def _no_nul(node: Any) -> None:
    """Every string without a pattern of its own, and every property name, may not hold
    a NUL byte (400)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not ({"pattern", "format", "enum", "const"} & node.keys()):
            node["pattern"] = NO_NUL
        if node.get("type") == "object" and "propertyNames" not in node:
            node["propertyNames"] = {"pattern": NO_NUL}
        for value in node.values():
            _no_nul(value)
    elif isinstance(node, list):
        for value in node:
            _no_nul(value)


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
