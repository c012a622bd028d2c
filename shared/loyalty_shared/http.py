"""What every service's HTTP side shares: the error body, health and metrics routes."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from loyalty_shared.events import ID_PATTERN
from loyalty_shared.metrics import ServiceMetrics

# A member id in a path, as the events define ids: a bad one is a 422 before any lookup.
MemberId = Annotated[str, Path(pattern=ID_PATTERN)]


class ApiError(Exception):
    """A caller's mistake (or a conflict), answered with the contract's error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers, so clients (and schema checks) know their body."""
    said = {
        401: "No credentials, or ones that are invalid, expired or revoked",
        403: "The credentials are valid but may not do this",
        404: "Not found (also: a member token naming another member)",
        409: "A conflict with the current state; `error.code` says which",
        422: "The request is malformed; `error.details` lists each problem",
        429: "Too many attempts; see `Retry-After`",
        503: "A service this one needs did not answer; nothing was lost",
    }
    return {s: {"model": ErrorOut, "description": said[s]} for s in statuses}


# What every route guarded by an access rule may answer.
ACCESS_ERRORS = error_responses(401, 403, 422, 429)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"], "type": err["type"]}
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        message = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
        return JSONResponse(
            error_body("invalid_request", message or "invalid request", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )


class Operated(Protocol):
    """What the operations routes need from a running service."""

    metrics: ServiceMetrics

    async def readiness(self) -> dict[str, bool]: ...


def health_router() -> APIRouter:
    """`/healthz` (alive), `/readyz` (every check passes), `/metrics` (Prometheus).

    The running service is looked up on `app.state.service`, set by the lifespan.
    """
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        service: Operated = request.app.state.service
        results = await service.readiness()
        ready = all(results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def prometheus(request: Request) -> Response:
        service: Operated = request.app.state.service
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


__all__ = [
    "ACCESS_ERRORS",
    "ApiError",
    "ErrorOut",
    "error_body",
    "error_responses",
    "health_router",
    "install_error_handlers",
]
