"""OpenAI-style error JSON for every failure, so no input ever yields an HTML page or a trace.

The one place where the layers' own refusals become HTTP statuses.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from pocketchat.chat.errors import (
    ChatRefused,
    ContextTooLong,
    InvalidField,
    KnowledgeUnavailable,
    NoSuchRun,
    NoSuchVectorStore,
    ServerBusy,
    ShuttingDown,
)
from pocketchat.knowledge.service import UploadRefused, UploadTooLarge
from pocketchat.knowledge.store import (
    JobClosed,
    KnowledgeError,
    NotFound,
    StoreUnavailable,
)
from pocketchat.runtime import NotReady

log = logging.getLogger(__name__)

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after = retry_after


def error_response(error: APIError) -> Response:
    body = {
        "error": {
            "message": error.message,
            "type": TYPES.get(error.status, "server_error"),
            "param": error.param,
            "code": error.code,
        }
    }
    response = jsonify(body)
    response.status_code = error.status
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def from_refusal(error: ChatRefused | NotReady) -> APIError:
    message = str(error)
    if isinstance(error, ContextTooLong):
        return APIError(400, message, code="context_length_exceeded", param=error.param)
    if isinstance(error, InvalidField):
        return APIError(400, message, code=error.code, param=error.param)
    if isinstance(error, ServerBusy):
        return APIError(429, message, code="queue_full", retry_after=5)
    if isinstance(error, ShuttingDown):
        return APIError(503, message, code="shutting_down")
    if isinstance(error, NoSuchRun | NoSuchVectorStore):
        return APIError(404, message, code="not_found")
    if isinstance(error, KnowledgeUnavailable):
        return APIError(503, message, code="knowledge_unavailable")
    if isinstance(error, NotReady):
        return APIError(503, message, code="model_loading", retry_after=2)
    return APIError(400, message)


def from_knowledge_error(error: KnowledgeError | UploadRefused) -> APIError:
    message = str(error)
    if isinstance(error, UploadTooLarge):
        return APIError(413, message, code="file_too_large", param="file")
    if isinstance(error, UploadRefused):
        return APIError(400, message, code="invalid_file", param="file")
    if isinstance(error, NotFound):
        return APIError(404, message, code="not_found")
    if isinstance(error, JobClosed):
        return APIError(409, message, code="conflict")
    if isinstance(error, StoreUnavailable):
        return APIError(503, message, code="knowledge_store_unavailable", retry_after=5)
    return APIError(500, message, code="knowledge_error")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(error: APIError) -> Response:
        return error_response(error)

    @app.errorhandler(ChatRefused)
    @app.errorhandler(NotReady)
    def _refused(error: ChatRefused | NotReady) -> Response:
        return error_response(from_refusal(error))

    @app.errorhandler(KnowledgeError)
    @app.errorhandler(UploadRefused)
    def _knowledge(error: KnowledgeError | UploadRefused) -> Response:
        return error_response(from_knowledge_error(error))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        messages = {
            404: "no such endpoint",
            405: "method not allowed on this endpoint",
            413: "request body is too large (MAX_BODY_BYTES; for files, MAX_UPLOAD_BYTES)",
        }
        return error_response(
            APIError(status, messages.get(status, error.description or error.name))
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(APIError(500, "internal server error", code="server_error"))
