"""The IBM Qiskit Runtime REST surface (reference ``ibm-runtime-sessions.md`` sections 1, 3).

Served at ``/identity/token`` (the IAM token endpoint the client reaches through ``IAM_URL``)
and under ``/api/v1``: backends from qiskit-ibm-runtime's fake backends, instance usage,
sessions and batches (``POST /sessions``, ``GET``, ``PATCH`` ``accepting_jobs: false`` = close,
``DELETE .../close`` = cancel) and primitive jobs. Session fields are the core's ``details()``
under the server's names; times are ISO 8601 UTC.
"""

from __future__ import annotations

import json
import math
import os
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from qsession.core.errors import InvalidEventError, PolicyError, SessionClosedError
from qsession.core.records import JobState
from starlette.responses import JSONResponse, PlainTextResponse

from . import execution
from .auth import Tenancy, Unauthorized
from .cloud import IBM, Cloud, CloudJob, CloudSession, Conflict, NotFound
from .errors import ApiError
from .execution import ExecutionError

#: Job states as the service reports them (``runtime_job_v2.py: API_TO_JOB_STATUS``).
JOB_STATUS = {
    JobState.QUEUED: "Queued",
    JobState.RUNNING: "Running",
    JobState.COMPLETED: "Completed",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}
#: Largest job input the service takes (``max-execution-time.mdx``: 64 MB).
MAX_JOB_BYTES = 64 * 1024 * 1024

iam = APIRouter(tags=["IBM Cloud IAM"])
router = APIRouter(prefix="/api/v1", tags=["IBM Qiskit Runtime"])


def _cloud(request: Request) -> Cloud:
    cloud: Cloud = request.app.state.cloud
    return cloud


def tenant(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    service_crn: Annotated[str | None, Header(alias="Service-CRN")] = None,
) -> str:
    """The caller's tenant: its API key (through the IAM token) and its instance CRN."""
    tenancy: Tenancy = request.app.state.tenancy
    try:
        return tenancy.ibm_tenant(authorization, service_crn)
    except Unauthorized as exc:
        raise ApiError(401, "Unauthorized", str(exc)) from None


Tenant = Annotated[str, Depends(tenant)]
CloudDep = Annotated[Cloud, Depends(_cloud)]


@iam.post("/identity/token")
async def token(request: Request) -> JSONResponse:
    """IAM: trade an API key (form ``apikey``) for a JWT access token."""
    form = parse_qs((await request.body()).decode("latin-1"))
    tenancy: Tenancy = request.app.state.tenancy
    try:
        return JSONResponse(tenancy.issue_token((form.get("apikey") or [""])[0]))
    except Unauthorized as exc:
        raise ApiError(400, "BXNIM0415E", f"Provided API key could not be found: {exc}") from None


# Backends ------------------------------------------------------------------------------------


def _backend_class(cloud: Cloud, name: str) -> type:
    classes = execution.fake_backend_classes()
    if name not in classes or name not in cloud.backends(IBM):
        raise ApiError(404, "BackendNotFound", f"Backend {name} not found.")
    return classes[name]


def _backend_json(cls: type, filename: str) -> dict[str, Any]:
    """A fake backend's JSON file, as the real service sends configuration and properties."""
    with open(os.path.join(cls.dirname, filename)) as handle:  # type: ignore[attr-defined]
        data: dict[str, Any] = json.load(handle)
    return data


@cache
def _qubits(name: str) -> int | None:
    cls = execution.fake_backend_classes()[name]
    qubits: int | None = _backend_json(cls, cls.conf_filename).get("n_qubits")
    return qubits


@router.get("/backends")
def backends(*, tenant: Tenant, cloud: CloudDep, include_mocks: bool = False) -> dict[str, Any]:
    """The instance's backends: qiskit-ibm-runtime's fake backends."""
    classes = execution.fake_backend_classes()
    return {
        "devices": [
            {
                "name": name,
                "status": {"name": "online", "reason": "available"},
                "queue_length": cloud.queue_length(name),
                "qubits": _qubits(name),
            }
            for name in cloud.backends(IBM)
            if name in classes
        ]
    }


@router.get("/backends/{name}/configuration")
def configuration(*, name: str, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    cls = _backend_class(cloud, name)
    conf = _backend_json(cls, cls.conf_filename)  # type: ignore[attr-defined]
    conf["backend_name"] = name
    return conf


@router.get("/backends/{name}/properties")
def properties(*, name: str, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    cls = _backend_class(cloud, name)
    props = _backend_json(cls, cls.props_filename)  # type: ignore[attr-defined]
    props["backend_name"] = name
    return props


@router.get("/backends/{name}/status")
def status(*, name: str, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    _backend_class(cloud, name)
    return {
        "backend_name": name,
        "backend_version": "1.0.0",
        "state": True,
        "status": "active",
        "message": "available",
        "length_queue": cloud.queue_length(name),
    }


@router.get("/instances/usage")
def usage(*, tenant: Tenant) -> dict[str, Any]:
    """The instance has no usage limit in the emulator."""
    return {"usage_limit_reached": False, "usage_consumed_seconds": 0}


# Sessions ------------------------------------------------------------------------------------


class SessionCreate(BaseModel):
    """``POST /sessions`` (``RuntimeSession.create``)."""

    model_config = ConfigDict(extra="ignore")
    mode: Literal["dedicated", "batch"] = "dedicated"
    backend: str = Field(min_length=1, max_length=100)
    instance: str | None = None
    max_ttl: int | None = Field(default=None, ge=1)


class SessionUpdate(BaseModel):
    """``PATCH /sessions/{id}``: only ``accepting_jobs: false`` (close) is possible."""

    model_config = ConfigDict(extra="forbid")
    accepting_jobs: bool


def session_json(cloud: Cloud, session: CloudSession) -> dict[str, Any]:
    """The session as ``GET /sessions/{id}`` returns it (the client renames some keys)."""
    d = session.core.details()
    return {
        "id": d["id"],
        "backend_name": d["backend_name"],
        "instance": session.attrs.get("instance"),
        "mode": d["mode"],
        "state": d["state"],
        "accepting_jobs": d["accepting_jobs"],
        "interactive_ttl": _number(d["interactive_timeout"]),
        "max_ttl": _number(d["max_time"]),
        "active_ttl": d["active_timeout"],
        "elapsed_time": _number(round(d["usage_time"], 3)),
        "started_at": cloud.iso(d["started_at"]),
        "activated_at": cloud.iso(d["activated_at"]),
        "closed_at": cloud.iso(d["closed_at"]),
        "last_job_started": cloud.iso(d["last_job_started"]),
        "last_job_completed": cloud.iso(d["last_job_completed"]),
        "timestamps": [
            {"status": entry["status"], "timestamp": cloud.iso(entry["timestamp"])}
            for entry in d["timestamps"]
        ],
        "user_id": session.tenant,
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


@router.post("/sessions")
def create_session(*, body: SessionCreate, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    """Open a session (``mode: dedicated``) or a batch (``mode: batch``)."""
    kind = "ibm_session" if body.mode == "dedicated" else "ibm_batch"
    policy = {"kind": kind, "plan": cloud.plan, "max_time": body.max_ttl, "backend": body.backend}
    try:
        session = cloud.open_session(tenant, IBM, body.backend, policy, {"instance": body.instance})
    except NotFound:
        raise ApiError(404, "BackendNotFound", f"Backend {body.backend} not found.") from None
    except PolicyError as exc:
        raise ApiError(400, "InvalidSession", str(exc)) from None
    return session_json(cloud, session)


def _session(cloud: Cloud, tenant: str, session_id: str) -> CloudSession:
    try:
        return cloud.session(tenant, session_id)
    except NotFound:
        raise ApiError(404, "SessionNotFound", f"Session not found: {session_id}") from None


@router.get("/sessions/{session_id}")
def get_session(*, session_id: str, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    return session_json(cloud, _session(cloud, tenant, session_id))


@router.patch("/sessions/{session_id}", status_code=204)
def update_session(
    *, session_id: str, body: SessionUpdate, tenant: Tenant, cloud: CloudDep
) -> Response:
    """``accepting_jobs: false`` closes the session: it drains, then closes."""
    _session(cloud, tenant, session_id)
    if body.accepting_jobs:
        raise ApiError(400, "InvalidSessionUpdate", "A session cannot start accepting jobs again.")
    cloud.close_session(tenant, session_id)
    return Response(status_code=204)


@router.delete("/sessions/{session_id}/close", status_code=204)
def cancel_session(*, session_id: str, tenant: Tenant, cloud: CloudDep) -> Response:
    """Cancel: close now, cancelling queued jobs; the running job finishes."""
    _session(cloud, tenant, session_id)
    cloud.cancel_session(tenant, session_id)
    return Response(status_code=204)


# Jobs ----------------------------------------------------------------------------------------


class JobCreate(BaseModel):
    """``POST /jobs`` (``Runtime.program_run``); ``params`` is ``RuntimeEncoder`` JSON."""

    model_config = ConfigDict(extra="ignore")
    program_id: str = Field(min_length=1, max_length=100)
    backend: str = Field(min_length=1, max_length=100)
    params: dict[str, Any]
    session_id: str | None = Field(default=None, max_length=100)
    tags: list[str] | None = None
    log_level: str | None = None
    runtime: str | None = None
    cost: int | None = Field(default=None, ge=1)
    private: bool | None = None
    calibration_id: str | None = None


def job_json(cloud: Cloud, job: CloudJob, *, params: bool = False) -> dict[str, Any]:
    """The job as ``GET /jobs/{id}`` returns it."""
    state: dict[str, Any] = {"status": JOB_STATUS[job.state]}
    if job.reason is not None:
        state["reason"] = job.reason
    data: dict[str, Any] = {
        "id": job.id,
        "backend": job.backend,
        "session_id": job.session_id,
        "program": {"id": job.program},
        "state": state,
        "status": JOB_STATUS[job.state],
        "created": cloud.iso(job.submitted_at),
        "tags": job.attrs.get("tags") or [],
        "private": bool(job.attrs.get("private")),
        "runtime": job.attrs.get("runtime") or "",
        "cost": job.attrs.get("cost"),
        "user_id": job.tenant,
        "estimated_running_time_seconds": None,
    }
    if params and job.params is not None:
        data["params"] = json.loads(job.params)
    return data


@router.post("/jobs")
def create_job(*, body: JobCreate, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    """Queue a primitive job, in a session or batch if ``session_id`` is given."""
    raw = json.dumps(body.params).encode()
    if len(raw) > MAX_JOB_BYTES:
        raise ApiError(413, "PayloadTooLarge", "Job input exceeds the 64 MB limit.")
    try:
        pubs = execution.ibm_pubs(body.program_id, execution.decode_ibm_params(raw))
    except ExecutionError as exc:
        raise ApiError(400, "InvalidParams", str(exc)) from None
    except Exception as exc:
        raise ApiError(400, "InvalidParams", f"params cannot be decoded: {exc}") from None
    attributes = {
        "tags": body.tags or [],
        "private": bool(body.private),
        "runtime": body.runtime,
        "cost": body.cost,
    }
    try:
        job = cloud.submit(
            tenant,
            IBM,
            body.backend,
            body.program_id,
            params=raw,
            attributes=attributes,
            session_id=body.session_id,
            shots=execution.pubs_shots(pubs),
            work=pubs,
        )
    except NotFound as exc:
        what = "Session" if "session" in str(exc) else "Backend"
        raise ApiError(400, f"{what}NotFound", f"{what} not found: {exc}") from None
    except SessionClosedError as exc:
        raise ApiError(
            400, "SessionClosed", f"Session {body.session_id} is closed: {exc}"
        ) from None
    except InvalidEventError as exc:
        raise ApiError(400, "InvalidJob", str(exc)) from None
    return {"id": job.id, "backend": job.backend, "session_id": job.session_id}


def _job(cloud: Cloud, tenant: str, job_id: str) -> CloudJob:
    try:
        return cloud.job(tenant, job_id)
    except NotFound:
        raise ApiError(404, "JobNotFound", f"Job not found: {job_id}") from None


@router.get("/jobs")
def list_jobs(
    *,
    tenant: Tenant,
    cloud: CloudDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
    skip: Annotated[int, Query(ge=0)] = 0,
    session_id: str | None = None,
    backend: str | None = None,
    pending: bool | None = None,
) -> dict[str, Any]:
    """The tenant's jobs, newest first."""
    jobs = [
        j
        for j in reversed(cloud.jobs(tenant, IBM, session_id))
        if (backend is None or j.backend == backend)
        and (pending is None or j.state.in_flight == pending)
    ]
    return {"jobs": [job_json(cloud, j) for j in jobs[skip : skip + limit]], "count": len(jobs)}


@router.get("/jobs/{job_id}")
def get_job(
    *, job_id: str, tenant: Tenant, cloud: CloudDep, exclude_params: bool = False
) -> dict[str, Any]:
    return job_json(cloud, _job(cloud, tenant, job_id), params=not exclude_params)


@router.get("/jobs/{job_id}/results", response_class=PlainTextResponse)
def job_results(*, job_id: str, tenant: Tenant, cloud: CloudDep) -> Response:
    """The result (``RuntimeEncoder`` JSON), or the error message of a failed job."""
    job = _job(cloud, tenant, job_id)
    data = cloud.result(tenant, job_id)
    if data is None:
        reason = job.reason or f"Job {job_id} has no result: it is {JOB_STATUS[job.state]}."
        if job.state.in_flight:
            raise ApiError(404, "ResultNotReady", f"Job {job_id} has not finished.")
        return PlainTextResponse(reason)
    return Response(data, media_type="application/json")


@router.post("/jobs/{job_id}/cancel", status_code=204)
def cancel_job(*, job_id: str, tenant: Tenant, cloud: CloudDep) -> Response:
    _job(cloud, tenant, job_id)
    try:
        cloud.cancel_job(tenant, job_id)
    except Conflict as exc:
        raise ApiError(409, "JobNotCancellable", str(exc)) from None
    return Response(status_code=204)


@router.get("/jobs/{job_id}/metrics")
def job_metrics(*, job_id: str, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    """Timestamps and usage (``RuntimeJobV2.metrics()`` / ``usage()``)."""
    job = _job(cloud, tenant, job_id)
    ran = 0.0
    if job.started_at is not None and job.ended_at is not None:
        ran = job.ended_at - job.started_at
    return {
        "timestamps": {
            "created": cloud.iso(job.submitted_at),
            "running": cloud.iso(job.started_at),
            "finished": cloud.iso(job.ended_at),
        },
        "bss": {"seconds": math.ceil(ran)},
        "usage": {"quantum_seconds": math.ceil(ran), "seconds": math.ceil(ran)},
        "qiskit_version": "",
    }
