"""The ASGI application: both REST surfaces, the storage emulation and the emulator's clock.

``create_app(store, clock)`` builds it; its lifespan starts the scheduler's driver thread and
stops it (and closes the store) on shutdown. Every HTTP request is marked as being handled
while it runs, so virtual time never moves under a request. ``GET /emulator/v1/clock`` answers
any accepted key; ``POST /emulator/v1/clock/advance`` moves every tenant's sessions, so it takes
the admin key (``x-qsession-admin-key``) and answers 403 without it. The interactive docs and
the OpenAPI schema (``/docs``, ``/redoc``, ``/openapi.json``) are served only with ``docs=True``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from qsession.adapters.local.model import DurationModel
from starlette.types import ASGIApp, Receive, Scope, Send

from . import azure, dashboard, errors, ibm
from .auth import ADMIN_HEADER, Forbidden, Tenancy, Unauthorized
from .clock import MAX_ADVANCE, ClockError, ServerClock
from .cloud import Cloud, Conflict
from .errors import ApiError
from .store import Store

admin = APIRouter(prefix="/emulator/v1", tags=["Emulator"])


def _caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_ms_quantum_api_key: Annotated[str | None, Header()] = None,
) -> None:
    """Any accepted credential of either provider."""
    tenancy: Tenancy = request.app.state.tenancy
    try:
        if x_ms_quantum_api_key is not None:
            tenancy.azure_tenant(x_ms_quantum_api_key, ("", "", ""))
        else:
            tenancy.ibm_tenant(authorization, None)
    except Unauthorized as exc:
        raise ApiError(401, "Unauthorized", str(exc)) from None


def _admin(
    request: Request, credential: Annotated[str | None, Header(alias=ADMIN_HEADER)] = None
) -> None:
    """The admin key, and nothing else."""
    tenancy: Tenancy = request.app.state.tenancy
    try:
        tenancy.check_admin(credential)
    except Forbidden as exc:
        raise ApiError(403, exc.code, str(exc)) from None


class Advance(BaseModel):
    """``seconds``: a number (not a boolean) above 0 and at most ten years."""

    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(gt=0, le=MAX_ADVANCE, strict=True, allow_inf_nan=False)


def _clock_json(cloud: Cloud) -> dict[str, Any]:
    clock = cloud.clock
    return {"now": clock.now(), "virtual": clock.virtual, "speed": clock.speed}


@admin.get("/clock", dependencies=[Depends(_caller)])
def get_clock(request: Request) -> dict[str, Any]:
    """Session time now and how it runs."""
    return _clock_json(request.app.state.cloud)


@admin.post("/clock/advance", dependencies=[Depends(_admin)])
def advance_clock(body: Advance, request: Request) -> dict[str, Any]:
    """Admin key, virtual clock only: let ``seconds`` of session time pass (TTLs lapse, jobs
    end) for every tenant; refused (400, nothing changed) past the clock's horizon."""
    cloud: Cloud = request.app.state.cloud
    try:
        cloud.advance(body.seconds)
    except Conflict as exc:
        raise ApiError(409, "ClockNotVirtual", str(exc)) from None
    except ClockError as exc:
        raise ApiError(400, "InvalidClockAdvance", str(exc)) from None
    return _clock_json(cloud)


class Handling:
    """ASGI middleware: the scheduler knows a request is being handled (virtual time waits)."""

    def __init__(self, app: ASGIApp, cloud: Cloud) -> None:
        self.app = app
        self.cloud = cloud

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.cloud.scheduler.handling():
            await self.app(scope, receive, send)


def create_app(
    store: Store,
    clock: ServerClock,
    *,
    api_keys: Collection[str] | None = None,
    admin_key: str | None = None,
    docs: bool = False,
    plan: str = "premium",
    seed: int | None = None,
    ibm_backends: Mapping[str, DurationModel] | None = None,
    azure_targets: Mapping[str, DurationModel] | None = None,
    workers: int | None = None,
) -> FastAPI:
    """The emulator as an ASGI app over ``store`` (state) and ``clock`` (session time).

    ``api_keys`` restricts the accepted keys (None accepts any); ``admin_key`` enables the
    admin routes; ``docs`` serves ``/docs``, ``/redoc`` and ``/openapi.json`` (to anyone who
    can reach the server); ``plan`` is the IBM plan every instance has; ``seed`` makes
    circuit sampling reproducible; ``workers`` bounds the threads that execute jobs (default:
    ``default_workers()`` of the local scheduler).
    """
    cloud = Cloud(
        store,
        clock,
        plan=plan,
        seed=seed,
        ibm_backends=ibm_backends,
        azure_targets=azure_targets,
        workers=workers,
    )
    tenancy = Tenancy(store, api_keys, admin_key=admin_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cloud.start()
        try:
            yield
        finally:
            cloud.stop()
            store.close()

    app = FastAPI(
        title="qsession emulator",
        summary="IBM Qiskit Runtime and Azure Quantum sessions and jobs, served locally.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.cloud = cloud
    app.state.tenancy = tenancy
    errors.install(app)
    app.include_router(ibm.iam)
    app.include_router(ibm.router)
    app.include_router(azure.router)
    app.include_router(admin)
    app.include_router(azure.storage)
    app.include_router(dashboard.router)
    app.add_middleware(Handling, cloud=cloud)
    return app
