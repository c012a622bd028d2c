"""What every service's HTTP side shares: the error body, health and metrics routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol, TypeVar

from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from loyalty_kernel.events.envelope import FIRST_YEAR, ID_PATTERN, LAST_YEAR
from loyalty_platform.metrics import ServiceMetrics

S = TypeVar("S")

# A member id in a path, as the events define ids: a bad one is a 422 before any lookup.
MemberId = Annotated[str, Path(pattern=ID_PATTERN)]

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?$"
)


def _moment_text(value: object) -> object:
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-11-23T10:15:00Z")
    return value


def _whole_number(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Free text that goes into the database: PostgreSQL refuses NUL in text, so the schema
# does too (a 422 at the door, not a 500 at the insert).
NO_NUL = r"^[^\x00]*$"

# A moment given as text: without this, a bare number would pass as seconds since 1970.
Moment = Annotated[datetime, BeforeValidator(_moment_text)]


# An integer in a JSON body: 5 and 5.0 are the same JSON number; "5", true and 5.5 are
# not. Put it after the bounds, `Annotated[StrictInt, Field(ge=.., le=..), WHOLE_NUMBER]`,
# so the schema publishes them as minimum and maximum.
WHOLE_NUMBER = BeforeValidator(_whole_number)


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


def as_of_moment(as_of: datetime | None, name: str = "as_of") -> datetime | None:
    """A query moment (`as_of`, or the parameter `name`) in UTC; without a zone, or
    outside the calendar the platform accepts, it is the caller's mistake (422
    `invalid_as_of`, or `invalid_time` for another parameter)."""
    if as_of is None:
        return None
    code = "invalid_as_of" if name == "as_of" else "invalid_time"
    if as_of.tzinfo is None:
        raise ApiError(422, code, f"{name} needs a time zone (Z or an offset)")
    if not FIRST_YEAR <= as_of.year <= LAST_YEAR:
        raise ApiError(422, code, f"{name} must fall in {FIRST_YEAR}-{LAST_YEAR}")
    return as_of.astimezone(UTC)


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
        400: "The body could not be read (not UTF-8 JSON)",
        401: "No credentials, or ones that are invalid, expired or revoked",
        403: "The credentials are valid but may not do this",
        404: "Not found (also: a member token naming another member)",
        409: "A conflict with the current state; `error.code` says which",
        413: "The request body is over 64 KiB",
        422: "The request is malformed; `error.details` lists each problem",
        429: "Too many attempts; see `Retry-After`",
        503: "A service this one needs did not answer; nothing was lost",
    }
    return {s: {"model": ErrorOut, "description": said[s]} for s in statuses}


# What every route guarded by an access rule may answer.
ACCESS_ERRORS = error_responses(400, 401, 403, 413, 422, 429)


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
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route matching the path only.
            headers["Allow"] = ", ".join(_methods_at(request.app.routes, request.url.path))
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )


def every_route(routes: list[Any]) -> list[Any]:
    """The routes of an app, those of included routers among them."""
    found = []
    for route in routes:
        included = getattr(route, "original_router", None)
        found.extend(every_route(included.routes) if included is not None else [route])
    return found


def _methods_at(routes: list[Any], path: str) -> list[str]:
    matching = (r for r in every_route(routes) if getattr(r, "path_regex", None))
    return sorted({m for r in matching if r.path_regex.match(path) for m in r.methods or ()})


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, bool]  # what this process needs to serve: all must hold
    # Services called for some requests only (their outage is a 503 on those); shown,
    # never a reason to take the whole service out of rotation.
    dependencies: dict[str, bool] = {}


class Operated(Protocol):
    """What the operations routes need from a running service."""

    metrics: ServiceMetrics

    async def readiness(self) -> dict[str, bool]: ...
    async def dependencies(self) -> dict[str, bool]: ...


def health_router() -> APIRouter:
    """`/healthz` (alive), `/readyz` (every check passes), `/metrics` (Prometheus).

    The running service is looked up on `app.state.service`, set by the lifespan.
    """
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz(request: Request) -> JSONResponse:
        service: Operated = request.app.state.service
        results = await service.readiness()
        ready = all(results.values())
        body = {
            "status": "ready" if ready else "not_ready",
            "checks": results,
            "dependencies": await service.dependencies(),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
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


def running(kind: type[S]) -> Callable[[Request], S]:
    """A FastAPI dependency: the app's running service (set by the lifespan), typed."""

    def service(request: Request) -> S:
        found = request.app.state.service
        if not isinstance(found, kind):
            raise TypeError(f"the app runs a {type(found).__name__}, not a {kind.__name__}")
        return found

    return service
