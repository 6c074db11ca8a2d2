"""Provider-shaped errors: every 4xx looks like the service the client thinks it talks to.

IBM Qiskit Runtime answers ``{"errors": [{"code", "message", "more_info"}], "trace",
"status_code"}``; Azure Quantum ``{"error": {"code", "message"}}``; Azure Storage an XML
``<Error><Code/><Message/></Error>`` with an ``x-ms-error-code`` header. The shape follows the
path (the emulator's own routes answer like Azure), so unknown routes, wrong methods and
malformed bodies are answered the same way. The IBM ``code`` values are the HTTP status (the
service's own numeric codes are undocumented).
"""

from __future__ import annotations

import logging
import re
import secrets
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from .auth import ACCOUNT_PATTERN

log = logging.getLogger(__name__)

IBM_PREFIXES = ("/api/", "/identity/")
AZURE_PREFIX = "/subscriptions/"
#: Blob paths start with a storage account the emulator named.
STORAGE_PATH = re.compile(rf"^/{ACCOUNT_PATTERN}(/|$)")


class ApiError(Exception):
    """An error answer: HTTP ``status``, the service's ``code`` and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(path: str, status: int, code: str, message: str) -> Response:
    """The error in the shape of the service that owns ``path``."""
    if path.startswith(IBM_PREFIXES):
        return JSONResponse(
            {
                "errors": [{"code": status, "message": message, "more_info": code}],
                "trace": secrets.token_hex(8),
                "status_code": status,
            },
            status_code=status,
        )
    if not STORAGE_PATH.match(path):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(
        body,
        status_code=status,
        media_type="application/xml",
        headers={"x-ms-error-code": code},
    )


_HTTP_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "RequestEntityTooLarge",
}


def install(app: FastAPI) -> None:
    """Answer every error, including FastAPI's own, in the provider's shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request.url.path, exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
            for err in exc.errors()
        )
        code = "InvalidRequest" if request.url.path.startswith(AZURE_PREFIX) else "BadRequest"
        return error_response(request.url.path, 400, code, f"Invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "Error")
        return error_response(request.url.path, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request.url.path, 500, "InternalError", "internal error")
