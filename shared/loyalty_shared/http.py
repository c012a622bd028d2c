"""What every service's HTTP side shares: the error body, health and metrics routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from loyalty_shared.events import ID_PATTERN
from loyalty_shared.metrics import ServiceMetrics

# A member id in a path, as the events define ids: a bad one is a 422 before any lookup.
MemberId = Annotated[str, Path(pattern=ID_PATTERN)]


class ApiError(Exception):
    """A caller's mistake (or a conflict), answered with the contract's error body."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


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
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

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


__all__ = ["ApiError", "error_body", "health_router", "install_error_handlers"]


class Startable(Protocol):
    async def start(self, *, consume: bool = True) -> None: ...
    async def stop(self) -> None: ...


def service_app(
    *,
    title: str,
    description: str,
    build: Callable[[], Startable],
    router: APIRouter,
    consume: bool = True,
) -> FastAPI:
    """A service's FastAPI app: its routes, health and metrics, error bodies, and the
    service itself (consumer, relay, background work) running for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built here: the Kafka clients belong to the running event loop.
        service = build()
        await service.start(consume=consume)
        app.state.service = service
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title=title, version="1.0", description=description, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(health_router())
    return app
