"""The IBM Qiskit Runtime REST surface (reference ``ibm-runtime-sessions.md`` sections 1, 3).

Served at ``/identity/token`` (the IAM token endpoint the client reaches through ``IAM_URL``)
and under ``/api/v1``: backends from qiskit-ibm-runtime's fake backends, instance usage,
sessions and batches (``POST /sessions``, ``GET``, ``PATCH`` ``accepting_jobs: false`` = close,
``DELETE .../close`` = cancel) and jobs of the ``sampler``, ``estimator`` and ``executor``
programs. Session fields are the core's ``details()`` under the server's names; times are ISO
8601 UTC.

Usage follows IBM's docs (https://quantum.cloud.ibm.com/docs/guides/execution-modes-faq and
qiskit-ibm-runtime 0.48+ ``RuntimeJobV2.usage``): a job's QPU charge time is the time it held
the QPU (the duration model's fixed per-job charge included), ``pending`` until it ends; a
session's usage is its active wall time, a batch's the sum of its jobs' charge times; the
instance's consumed usage sums its jobs' charge times (mock backends excepted). A job whose
charge time would pass its ``max_execution_time`` is stopped there and ends ``Cancelled`` with
reason code 1305, which the client reports as ``RuntimeJobMaxTimeoutError``.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from qsession.adapters.local.model import isa_problem
from qsession.core.errors import InvalidEventError, PolicyError, SessionClosedError
from qsession.core.records import JobState
from starlette.responses import JSONResponse, PlainTextResponse

from . import execution
from .auth import Tenancy, Unauthorized
from .cloud import (
    IBM,
    RAN_TOO_LONG,
    Cloud,
    CloudJob,
    CloudSession,
    Conflict,
    JobLimitError,
    NotFound,
)
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
#: The reason code of a job stopped at its ``max_execution_time`` (``runtime_job_v2.py``).
RAN_TOO_LONG_CODE = 1305
#: Open Plan instances get 10 minutes of QPU time per rolling 28-day window.
OPEN_PLAN_USAGE_LIMIT = 600
USAGE_WINDOW = 28 * 86400

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
    """The fake backend class ``name`` is (a mock backend: its twin's)."""
    classes = execution.fake_backend_classes()
    if execution.device(name) not in classes or name not in cloud.backends(IBM):
        raise ApiError(404, "BackendNotFound", f"Backend {name} not found.")
    return classes[execution.device(name)]


def _backend_json(cls: type, filename: str) -> dict[str, Any]:
    """A fake backend's JSON file, as the real service sends configuration and properties."""
    with open(os.path.join(cls.dirname, filename)) as handle:  # type: ignore[attr-defined]
        data: dict[str, Any] = json.load(handle)
    return data


@cache
def _qubits(cls: type) -> int | None:
    qubits: int | None = _backend_json(cls, cls.conf_filename).get("n_qubits")  # type: ignore[attr-defined]
    return qubits


@router.get("/backends")
def backends(*, tenant: Tenant, cloud: CloudDep, include_mocks: bool = False) -> dict[str, Any]:
    """The instance's backends: qiskit-ibm-runtime's fake backends and, with ``include_mocks``,
    their mock twins (``"class": "mock"``), where ``dry_run=True`` sends jobs."""
    devices = []
    for name in cloud.backends(IBM):
        mock = execution.is_mock(name)
        if mock and not include_mocks:
            continue
        device: dict[str, Any] = {
            "name": name,
            "status": {"name": "online", "reason": "available"},
            "queue_length": cloud.queue_length(name),
            "qubits": _qubits(_backend_class(cloud, name)),
        }
        if mock:
            device["class"] = "mock"
        devices.append(device)
    return {"devices": devices}


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
def usage(*, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    """The instance's QPU usage over the last 28 days: the charge times of its jobs on real
    (not mock) backends; an Open Plan instance is limited to 10 minutes."""
    now = cloud.clock.now()
    consumed = sum(
        cloud.charge_seconds(job)
        for job in cloud.jobs(tenant, IBM)
        if not execution.is_mock(job.backend)
        and job.ended_at is not None
        and job.ended_at >= now - USAGE_WINDOW
    )
    answer: dict[str, Any] = {
        "usage_consumed_seconds": _number(round(consumed, 3)),
        "usage_limit_reached": False,
    }
    if cloud.plan == "open":
        answer["usage_limit_seconds"] = OPEN_PLAN_USAGE_LIMIT
        answer["usage_limit_reached"] = consumed >= OPEN_PLAN_USAGE_LIMIT
    return answer


# Sessions ------------------------------------------------------------------------------------


class SessionCreate(BaseModel):
    """``POST /sessions`` (``RuntimeSession.create``)."""

    model_config = ConfigDict(extra="ignore")
    mode: Literal["dedicated", "batch"] = "dedicated"
    backend: str = Field(min_length=1, max_length=100)
    instance: str | None = None
    max_ttl: int | None = Field(default=None, ge=1, strict=True)


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
        "elapsed_time": _number(round(_session_usage(cloud, session, d), 3)),
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


def _session_usage(cloud: Cloud, session: CloudSession, details: dict[str, Any]) -> float:
    """A session's usage is its active wall time; a batch's, its jobs' QPU charge time."""
    if details["mode"] != "batch":
        return float(details["usage_time"])
    return sum(cloud.charge_seconds(j) for j in cloud.jobs(session.tenant, IBM, session.id))


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
    if job.reason == RAN_TOO_LONG:
        state["reason_code"] = RAN_TOO_LONG_CODE
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
    raw = cloud.params(job.tenant, job.id) if params else None
    if raw is not None:
        data["params"] = json.loads(raw)
    return data


@router.post("/jobs")
def create_job(*, body: JobCreate, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    """Queue a job, in a session or batch if ``session_id`` is given. Its circuits must be ISA
    circuits of the backend (a mock backend: of its twin), as the service requires."""
    raw = json.dumps(body.params).encode()
    if len(raw) > MAX_JOB_BYTES:
        raise ApiError(413, "PayloadTooLarge", "Job input exceeds the 64 MB limit.")
    try:
        work = execution.ibm_work(body.program_id, execution.decode_ibm_params(raw))
        shots = execution.work_shots(work)
    except ExecutionError as exc:
        raise ApiError(400, "InvalidParams", str(exc)) from None
    except Exception as exc:
        raise ApiError(400, "InvalidParams", f"params cannot be decoded: {exc}") from None
    _check_isa(cloud, body.backend, work)
    _check_session_backend(cloud, tenant, body)
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
            shots=shots,
            work=work,
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
    except JobLimitError as exc:
        raise ApiError(400, "TooManyShots", f"Job validation failed: {exc}.") from None
    return {"id": job.id, "backend": job.backend, "session_id": job.session_id}


def _check_isa(cloud: Cloud, backend: str, work: execution.IbmWork) -> None:
    if backend not in cloud.backends(IBM):
        return  # the submission answers BackendNotFound
    device = cloud.executors.ibm_backend(execution.device(backend))
    for index, circuit in enumerate(execution.work_circuits(work)):
        problem = isa_problem(circuit, device)
        if problem:
            raise ApiError(400, "InvalidCircuit", f"Circuit {index}: {problem}")


def _check_session_backend(cloud: Cloud, tenant: str, body: JobCreate) -> None:
    """A session runs on one backend; a dry run (``mock_x``) in a session on ``x`` is refused
    with what to do instead."""
    if body.session_id is None:
        return
    try:
        session = cloud.session(tenant, body.session_id)
    except NotFound:
        return  # the submission answers SessionNotFound
    if session.backend != body.backend and execution.is_mock(body.backend):
        raise ApiError(
            400,
            "InvalidJob",
            f"Session {session.id} runs on {session.backend}; a dry run goes to"
            f" {body.backend}, which is another backend. Dry-run in job mode, or open the"
            f" session on {body.backend}.",
        )


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
    offset: Annotated[int, Query(ge=0)] = 0,
    tags: Annotated[list[str] | None, Query()] = None,
    session_id: str | None = None,
    backend: str | None = None,
    program: str | None = None,
    pending: bool | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: Literal["ASC", "DESC"] = "DESC",
    include_mocks: bool = False,
    exclude_params: bool = True,
) -> dict[str, Any]:
    """The tenant's jobs matching every filter (``tags``: jobs carrying all of them; the
    ``created_*`` bounds inclusive), newest first unless ``sort=ASC``; ``count`` is the number
    matched before ``offset`` and ``limit``."""
    after = None if created_after is None else _session_time(cloud, created_after)
    before = None if created_before is None else _session_time(cloud, created_before)
    wanted = set(tags or ())
    jobs = [
        j
        for j in cloud.jobs(tenant, IBM, session_id)
        if (backend is None or j.backend == backend)
        and (program is None or j.program == program)
        and (pending is None or j.state.in_flight == pending)
        and wanted <= set(j.attrs.get("tags") or ())
        and (after is None or j.submitted_at >= after)
        and (before is None or j.submitted_at <= before)
        and (include_mocks or backend is not None or not execution.is_mock(j.backend))
    ]
    jobs.sort(key=lambda j: j.submitted_at, reverse=sort == "DESC")
    page = jobs[offset : offset + limit]
    return {
        "jobs": [job_json(cloud, j, params=not exclude_params) for j in page],
        "count": len(jobs),
    }


def _session_time(cloud: Cloud, moment: datetime) -> float:
    """A client's timestamp on the cloud's clock (a naive one is UTC, as the client sends)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() - cloud.epoch


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
    """Timestamps and usage (``RuntimeJobV2.metrics()`` / ``usage()``): the QPU charge time
    so far, ``pending`` until the job ends, then ``completed``."""
    job = _job(cloud, tenant, job_id)
    charge = cloud.charge_seconds(job)
    return {
        "timestamps": {
            "created": cloud.iso(job.submitted_at),
            "running": cloud.iso(job.started_at),
            "finished": cloud.iso(job.ended_at),
        },
        "bss": {"seconds": math.ceil(charge)},
        "usage": {
            "quantum_seconds": math.ceil(charge),
            "seconds": math.ceil(charge),
            "qpu_charge_time_seconds": _number(round(charge, 3)),
            "status": "pending" if job.state.in_flight else "completed",
        },
        "qiskit_version": "",
    }
