"""The Azure Quantum REST surface (reference ``azure-quantum-sessions.md`` sections 2, 3) and a
small Azure Blob Storage for job input and output.

Served under ``/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/
{ws}``, as azure-quantum 3.13 calls it (API ``2026-01-15-preview``; ``2025-12-01-preview`` is
answered the same): ``providerStatus`` (the targets of ``qsession.adapters.local.azure_targets``,
Microsoft's echo targets among them), sessions (``PUT``, ``GET``, ``:close``, list, list jobs),
jobs (``PUT`` with ``sessionId``, ``GET``, ``PATCH`` of name, priority and tags, list,
``:cancel`` answering 200 with the job), ``topLevelItems`` and ``storage/sasUri``. Lists honour
the client's OData ``filter``, ``orderby``, ``skip`` and ``top`` and page with ``nextLink``.

Statuses are the core's (sessions) and the service's job statuses; a running job is
``Executing`` while its shots run and ``Finishing`` for its duration model's fixed overhead.
Provider ids are reported lower case whatever case was sent. A job sent to a session that no
longer accepts jobs gets 400 ``InvalidJobDefinition`` and is not created. Each job's output is
written where its ``outputDataUri`` says (by default ``rawOutputData`` in its own ``job-{id}``
container, ``{id}/rawOutputData`` in a shared one).

Blobs are path-style, as Azurite serves them: ``/{account}/{container}/{blob}?{sas}``, with
one account per tenant and service SAS signed and verified as Azure Storage does (``auth``):
a container SAS (read, create, write) for uploads, a read-only blob SAS for outputs, each
valid for ``SAS_LIFETIME``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from qsession.adapters.local import azure_targets
from qsession.adapters.local.azure_targets import AzureTarget
from qsession.core.errors import InvalidEventError, PolicyError, SessionClosedError
from qsession.core.records import JobState
from starlette.convertors import Convertor, register_url_convertor

from .auth import ACCOUNT_PATTERN, Forbidden, Tenancy, Unauthorized
from .cloud import (
    AZURE,
    Cloud,
    CloudJob,
    CloudSession,
    Conflict,
    JobLimitError,
    NotFound,
    azure_shots_asked,
    new_id,
)
from .errors import ApiError
from .execution import shots_of
from .store import BlobRow

#: Job statuses as the service reports them (a running job in its overhead is ``Finishing``).
JOB_STATUS = {
    JobState.QUEUED: "Waiting",
    JobState.RUNNING: "Executing",
    JobState.COMPLETED: "Succeeded",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}
#: What the service answers for a job sent to a terminal session (recorded, reference 1).
SESSION_TERMINAL = (
    "Session is already in a terminal state. This may have been due to failures in prior jobs"
    " in the session."
)
#: Permissions of the container SAS the emulator hands out (read, create, write).
CONTAINER_PERMISSIONS = "rcw"
#: Largest blob accepted.
MAX_BLOB_BYTES = 64 * 1024 * 1024
OUTPUT_BLOB = "rawOutputData"
#: Who created an item, as the 2025-12-01-preview fields report it for an API key.
CREATED_BY = "x-ms-quantum-api-key"
CREATED_BY_TYPE = "Key"
#: Job priorities, matched without case as the SDK's ``Priority`` enum matches them.
PRIORITIES = {"standard": "Standard", "high": "High"}
_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

WORKSPACE = (
    "/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
    "/providers/Microsoft.Quantum/workspaces/{workspace}"
)
router = APIRouter(prefix=WORKSPACE, tags=["Azure Quantum"])
storage = APIRouter(tags=["Azure Blob Storage"])


def _cloud(request: Request) -> Cloud:
    cloud: Cloud = request.app.state.cloud
    return cloud


def tenant(
    request: Request,
    subscription_id: str,
    resource_group: str,
    workspace: str,
    x_ms_quantum_api_key: Annotated[str | None, Header()] = None,
) -> str:
    """The caller's tenant: its API key and the workspace in the path."""
    tenancy: Tenancy = request.app.state.tenancy
    try:
        return tenancy.azure_tenant(
            x_ms_quantum_api_key, (subscription_id, resource_group, workspace)
        )
    except Unauthorized as exc:
        raise ApiError(401, "Unauthorized", str(exc)) from None


Tenant = Annotated[str, Depends(tenant)]
CloudDep = Annotated[Cloud, Depends(_cloud)]
ItemId = Annotated[str, Path(pattern=_ID)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _sas_url(request: Request, account: str, container: str, blob: str | None = None) -> str:
    """A signed URL: the container (read, create, write) or one blob (read only)."""
    tenancy: Tenancy = request.app.state.tenancy
    url = f"{_base(request)}/{account}/{container}"
    if blob is None:
        return f"{url}?{tenancy.sas(account, container, permissions=CONTAINER_PERMISSIONS)}"
    return f"{url}/{blob}?{tenancy.sas(account, container, blob, permissions='r')}"


# Providers -----------------------------------------------------------------------------------


@router.get("/providerStatus")
def provider_status(*, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    """Every target of the workspace, grouped by provider id as the service lists them."""
    providers: dict[str, list[dict[str, Any]]] = {}
    for name in cloud.backends(AZURE):
        queued = cloud.queue_length(name)
        providers.setdefault(azure_targets.target(name).provider_id, []).append(
            {
                "id": name,
                "currentAvailability": "Available",
                "averageQueueTime": queued,
                "averageQueueTimeHighPriority": queued,
                "averageQueueTimeStandardPriority": queued,
                "statusPage": None,
            }
        )
    return {
        "value": [
            {"id": provider, "currentAvailability": "Available", "targets": targets}
            for provider, targets in providers.items()
        ],
        "nextLink": None,
    }


def _provider(spec: AzureTarget, sent: str, code: str) -> str:
    """The provider id the service reports (lower case); 400 if it is not the target's."""
    if sent.lower() != spec.provider_id.lower():
        raise ApiError(
            400,
            code,
            f"Target {spec.name!r} belongs to provider {spec.provider_id!r}, not {sent!r};"
            f" send providerId {spec.provider_id!r}.",
        )
    return spec.provider_id.lower()


@router.get("/quotas")
def quotas(*, tenant: Tenant) -> dict[str, Any]:
    return {"value": [], "nextLink": None}


# OData filters (the subset ``Workspace._create_filter`` writes) -------------------------------

_TERM = re.compile(
    r"\s*(?:\(\s*)?(?:(\w+)\s+eq\s+'([^']*)'|startswith\((\w+),\s*'([^']*)'\)"
    r"|(\w+)\s+(ge|le|gt|lt)\s+(\S+?))\s*(?:\)\s*)?(?:\s+(and|or)\s+|$)"
)


_FILTER_FIELDS = {
    "providerid": "providerId",
    "target": "target",
    "state": "status",
    "name": "name",
    "itemtype": "itemType",
    "jobtype": "jobType",
}


def _filter(expression: str | None) -> Callable[[dict[str, Any]], bool]:
    """A predicate for ``Field eq '...'`` terms (one field's terms OR-ed, different fields
    AND-ed), ``startswith(Name, '...')`` and ``CreationTime ge|le|gt|lt <date>``."""
    if not expression:
        return lambda item: True
    equal: dict[str, set[str]] = {}
    prefixes: list[str] = []
    bounds: list[tuple[str, str]] = []
    position = 0
    while position < len(expression):
        match = _TERM.match(expression, position)
        if match is None or match.end() == position:
            raise ApiError(400, "InvalidFilter", f"Unsupported filter: {expression!r}")
        if match.group(1):
            equal.setdefault(match.group(1).lower(), set()).add(match.group(2).lower())
        elif match.group(3):
            prefixes.append(match.group(4))
        elif match.group(5).lower() == "creationtime":
            bounds.append((match.group(6), match.group(7)))
        else:
            raise ApiError(400, "InvalidFilter", f"Cannot compare {match.group(5)!r}")
        position = match.end()
    unknown = set(equal) - set(_FILTER_FIELDS)
    if unknown:
        raise ApiError(400, "InvalidFilter", f"Cannot filter on {sorted(unknown)}")
    compare: dict[str, Callable[[str, str], bool]] = {
        "ge": str.__ge__,
        "le": str.__le__,
        "gt": str.__gt__,
        "lt": str.__lt__,
    }

    def keep(item: dict[str, Any]) -> bool:
        for field, values in equal.items():
            if str(item.get(_FILTER_FIELDS[field]) or "").lower() not in values:
                return False
        created = str(item.get("creationTime") or "")[:10]
        return all(str(item.get("name") or "").startswith(p) for p in prefixes) and all(
            compare[op](created, day[:10]) for op, day in bounds
        )

    return keep


_ORDER_FIELDS = {
    "name": "name",
    "itemtype": "itemType",
    "jobtype": "jobType",
    "providerid": "providerId",
    "target": "target",
    "state": "status",
    "creationtime": "creationTime",
}


def _order(items: list[dict[str, Any]], orderby: str | None) -> list[dict[str, Any]]:
    """``items`` sorted by ``orderby`` (``Field asc|desc``, what ``Workspace._create_orderby``
    writes); without one, in creation order."""
    if not orderby:
        return items
    field, _, direction = orderby.strip().partition(" ")
    key = _ORDER_FIELDS.get(field.lower())
    if key is None or direction.strip().lower() not in ("", "asc", "desc"):
        raise ApiError(
            400,
            "InvalidOrderBy",
            f"Cannot order by {orderby!r}; use '<field> asc|desc' with a field of"
            f" {sorted(_ORDER_FIELDS.values())}",
        )
    return sorted(
        items,
        key=lambda item: str(item.get(key) or ""),
        reverse=direction.strip().lower() == "desc",
    )


def _page(
    request: Request,
    items: list[dict[str, Any]],
    *,
    filter: str | None,
    orderby: str | None,
    skip: int,
    top: int,
) -> dict[str, Any]:
    """One page of the filtered, ordered items; ``nextLink`` names the next page, if any."""
    keep = _filter(filter)
    found = _order([item for item in items if keep(item)], orderby)
    next_link = None
    if skip + top < len(found):
        next_link = str(request.url.include_query_params(skip=skip + top, top=top))
    return {"value": found[skip : skip + top], "nextLink": next_link}


Skip = Annotated[int, Query(ge=0)]
Top = Annotated[int, Query(ge=1, le=1000)]


# Sessions ------------------------------------------------------------------------------------


class SessionOpen(BaseModel):
    """``PUT /sessions/{id}`` (``SessionDetails``; read-only fields are ignored)."""

    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, max_length=500)
    providerId: str = Field(min_length=1, max_length=100)
    target: str = Field(min_length=1, max_length=200)
    itemType: Literal["Session"] = "Session"
    jobFailurePolicy: str | None = None
    priority: str | None = None
    tags: list[str] | None = None


def _audit(cloud: Cloud, created: float | None, modified: float | None) -> dict[str, Any]:
    """The 2025-12-01-preview audit fields of an item."""
    return {
        "createdBy": CREATED_BY,
        "createdByType": CREATED_BY_TYPE,
        "lastModifiedBy": CREATED_BY,
        "lastModifiedByType": CREATED_BY_TYPE,
        "lastModifiedTime": cloud.iso(modified, "microseconds"),
        "lastUpdatedTime": cloud.iso(modified, "microseconds"),
    }


def session_json(cloud: Cloud, session: CloudSession) -> dict[str, Any]:
    d = session.core.details()
    created = d["creationTime"]
    moments = (created, d["beginExecutionTime"], d["endExecutionTime"])
    modified = max(t for t in moments if t is not None)
    return {
        "id": session.id,
        "name": session.attrs.get("name"),
        "providerId": session.attrs.get("providerId") or d["providerId"],
        "target": d["target"],
        "itemType": "Session",
        "jobFailurePolicy": d["jobFailurePolicy"],
        "priority": d["priority"],
        "jobPriority": "Basic",
        "status": d["status"],
        "creationTime": cloud.iso(created, "microseconds"),
        "beginExecutionTime": cloud.iso(d["beginExecutionTime"], "microseconds"),
        "endExecutionTime": cloud.iso(d["endExecutionTime"], "microseconds"),
        "tags": session.attrs.get("tags") or [],
        "costEstimate": None,
        "errorData": None,
        "usage": None,
        **_audit(cloud, created, modified),
    }


def _session(cloud: Cloud, tenant: str, session_id: str) -> CloudSession:
    try:
        return cloud.session(tenant, session_id)
    except NotFound:
        raise ApiError(404, "SessionNotFound", f"Session {session_id} not found.") from None


@router.put("/sessions/{session_id}", status_code=200)
def open_session(
    *, session_id: ItemId, body: SessionOpen, tenant: Tenant, cloud: CloudDep
) -> dict[str, Any]:
    """Open a session on one target (``jobFailurePolicy`` defaults to ``Abort``)."""
    policy = {
        "kind": "azure_session",
        "target": body.target,
        "job_failure_policy": body.jobFailurePolicy,
        "priority": body.priority,
    }
    spec = azure_targets.target(body.target)
    if body.target not in cloud.backends(AZURE):
        raise ApiError(400, "InvalidTarget", f"Target {body.target!r} not found.")
    provider = _provider(spec, body.providerId, "InvalidSessionDefinition")
    attributes = {"name": body.name, "providerId": provider, "tags": body.tags or []}
    try:
        session = cloud.open_session(
            tenant, AZURE, body.target, policy, attributes, session_id=session_id
        )
    except PolicyError as exc:
        raise ApiError(400, "InvalidSessionDefinition", str(exc)) from None
    except Conflict:
        raise ApiError(409, "Conflict", f"Session {session_id} already exists.") from None
    return session_json(cloud, session)


@router.get("/sessions/{session_id}")
def get_session(*, session_id: ItemId, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    return session_json(cloud, _session(cloud, tenant, session_id))


@router.post("/sessions/{session_id}:close")
def close_session(*, session_id: ItemId, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    """Stop accepting jobs: ``Succeeded``/``Failed`` at once when idle, else after draining."""
    _session(cloud, tenant, session_id)
    return session_json(cloud, cloud.close_session(tenant, session_id))


@router.get("/sessions")
def list_sessions(
    *,
    request: Request,
    tenant: Tenant,
    cloud: CloudDep,
    filter: str | None = None,
    skip: Skip = 0,
    top: Top = 100,
    orderby: str | None = None,
) -> dict[str, Any]:
    items = [session_json(cloud, s) for s in cloud.sessions(tenant, AZURE)]
    return _page(request, items, filter=filter, orderby=orderby, skip=skip, top=top)


@router.get("/sessions/{session_id}/jobs")
def list_session_jobs(
    *,
    session_id: ItemId,
    request: Request,
    tenant: Tenant,
    cloud: CloudDep,
    filter: str | None = None,
    skip: Skip = 0,
    top: Top = 100,
    orderby: str | None = None,
) -> dict[str, Any]:
    """The jobs the session accepted, in submission order."""
    _session(cloud, tenant, session_id)
    items = [job_json(request, cloud, j) for j in cloud.jobs(tenant, AZURE, session_id)]
    return _page(request, items, filter=filter, orderby=orderby, skip=skip, top=top)


@router.get("/topLevelItems")
def list_top_level_items(
    *,
    request: Request,
    tenant: Tenant,
    cloud: CloudDep,
    filter: str | None = None,
    skip: Skip = 0,
    top: Top = 100,
    orderby: str | None = None,
) -> dict[str, Any]:
    """Sessions and the jobs outside any session, oldest first unless ``orderby`` says."""
    sessions = [session_json(cloud, s) for s in cloud.sessions(tenant, AZURE)]
    jobs = [job_json(request, cloud, j) for j in cloud.jobs(tenant, AZURE) if j.session_id is None]
    items = sorted([*sessions, *jobs], key=lambda item: str(item["creationTime"]))
    return _page(request, items, filter=filter, orderby=orderby, skip=skip, top=top)


# Storage -------------------------------------------------------------------------------------


class SasRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    containerName: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
    blobName: str | None = Field(default=None, min_length=1, max_length=1024)


@router.post("/storage/sasUri")
def sas_uri(*, body: SasRequest, request: Request, tenant: Tenant) -> dict[str, str]:
    """A SAS URL for a container (read, create, write) or one blob (read only) of the
    tenant's storage account."""
    account = Tenancy.storage_account(tenant)
    return {"sasUri": _sas_url(request, account, body.containerName, body.blobName)}


# Jobs ----------------------------------------------------------------------------------------


class JobCreate(BaseModel):
    """``PUT /jobs/{id}`` (``JobDetails``; read-only fields are ignored)."""

    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, max_length=500)
    providerId: str = Field(min_length=1, max_length=100)
    target: str = Field(min_length=1, max_length=200)
    itemType: Literal["Job"] = "Job"
    containerUri: str = Field(min_length=1, max_length=2048)
    inputDataUri: str | None = Field(default=None, max_length=2048)
    inputDataFormat: str = Field(min_length=1, max_length=200)
    outputDataUri: str | None = Field(default=None, max_length=2048)
    outputDataFormat: str | None = Field(default=None, max_length=200)
    inputParams: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    sessionId: str | None = Field(default=None, pattern=_ID)
    priority: str | None = None
    tags: list[str] | None = None


def job_status(cloud: Cloud, job: CloudJob) -> str:
    """The service's status: a running job past its shots is ``Finishing`` (its duration
    model's fixed overhead: the provider's post-processing, read as the run's last part)."""
    if (
        job.state is JobState.RUNNING
        and job.due_at is not None
        and cloud.clock.now() >= job.due_at - cloud.duration(job.backend).overhead
    ):
        return "Finishing"
    return JOB_STATUS[job.state]


def job_json(request: Request, cloud: Cloud, job: CloudJob) -> dict[str, Any]:
    account, container, name = job.attrs["output_blob"]
    a = job.attrs
    error = None
    if job.state is JobState.FAILED:
        code, _, message = (job.reason or "").partition(": ")
        if not re.fullmatch(r"[A-Z][A-Za-z]+", code):
            code, message = "JobFailed", job.reason or ""
        error = {"code": code, "message": message}
    elif job.state is JobState.CANCELLED:
        error = {"code": "JobCancelled", "message": job.reason or ""}
    spec = azure_targets.target(job.backend)
    input_format = job.program
    produced = spec.formats.get(input_format, ())
    modified = max(t for t in (job.submitted_at, job.started_at, job.ended_at) if t is not None)
    return {
        "id": job.id,
        "name": a.get("name"),
        "providerId": a.get("providerId"),
        "target": job.backend,
        "itemType": "Job",
        "jobType": "QuantumComputing",
        "status": job_status(cloud, job),
        "sessionId": job.session_id,
        "containerUri": _sas_url(request, account, container),
        "inputDataUri": a.get("inputDataUri"),
        "inputDataFormat": input_format,
        "outputDataUri": _sas_url(request, account, container, name),
        "outputDataFormat": a.get("outputDataFormat") or (produced[0] if produced else None),
        "inputParams": a.get("inputParams"),
        "metadata": a.get("metadata"),
        "priority": a.get("priority"),
        "jobPriority": "Basic",
        "tags": a.get("tags") or [],
        "creationTime": cloud.iso(job.submitted_at, "microseconds"),
        "beginExecutionTime": cloud.iso(job.started_at, "microseconds"),
        "endExecutionTime": cloud.iso(job.ended_at, "microseconds"),
        "cancellationTime": cloud.iso(job.ended_at, "microseconds")
        if job.state is JobState.CANCELLED
        else None,
        "isCancelling": False,
        "quantumComputingData": {"count": 1},
        "costEstimate": a.get("costEstimate"),
        "usage": _usage(job),
        "errorData": error,
        **_audit(cloud, job.submitted_at, modified),
    }


def _usage(job: CloudJob) -> dict[str, Any] | None:
    """The provider-defined usage map of a job that ran: its shots and QPU seconds."""
    if job.started_at is None or job.ended_at is None:
        return None
    shots = shots_of(job.attrs.get("inputParams") or {})
    return {"shots": shots, "seconds": round(job.ended_at - job.started_at, 6)}


def _blob_path(tenant: str, uri: str, what: str) -> tuple[str, str, str]:
    """The (account, container, blob) a job URI names; it must be the tenant's own."""
    try:
        parts = urlsplit(uri).path.strip("/").split("/", 2)
    except ValueError as exc:  # e.g. "http://[": an unclosed IPv6 host
        raise ApiError(400, "InvalidJobDefinition", f"{what} is not a valid URI: {exc}") from None
    account = Tenancy.storage_account(tenant)
    if len(parts) < 2 or parts[0] != account or not parts[1]:
        raise ApiError(400, "InvalidJobDefinition", f"{what} must be a container of this workspace")
    return account, parts[1], parts[2] if len(parts) == 3 else ""


def _priority(value: str | None) -> str | None:
    """A job priority in the service's spelling; 400 for anything but Standard or High."""
    if value is None:
        return None
    canonical = PRIORITIES.get(value.lower())
    if canonical is None:
        raise ApiError(
            400,
            "InvalidJobDefinition",
            f"priority must be one of {list(PRIORITIES.values())}; got {value!r}",
        )
    return canonical


def _job(cloud: Cloud, tenant: str, job_id: str) -> CloudJob:
    try:
        return cloud.job(tenant, job_id)
    except NotFound:
        raise ApiError(404, "JobNotFound", f"Job {job_id} not found.") from None


@router.put("/jobs/{job_id}", status_code=200)
def create_job(
    *, job_id: ItemId, body: JobCreate, request: Request, tenant: Tenant, cloud: CloudDep
) -> dict[str, Any]:
    """Create a job from its input blob, in the session ``sessionId`` names, if any; its
    output goes where ``outputDataUri`` says."""
    account, container, _ = _blob_path(tenant, body.containerUri, "containerUri")
    blob_name = "inputData"
    if body.inputDataUri:
        in_account, in_container, blob_name = _blob_path(tenant, body.inputDataUri, "inputDataUri")
        if (in_account, in_container) != (account, container) or not blob_name:
            raise ApiError(
                400, "InvalidJobDefinition", "inputDataUri must be a blob of containerUri"
            )
    output = [
        account,
        container,
        OUTPUT_BLOB if container == f"job-{job_id}" else f"{job_id}/{OUTPUT_BLOB}",
    ]
    if body.outputDataUri:
        output = list(_blob_path(tenant, body.outputDataUri, "outputDataUri"))
        if not output[2]:
            raise ApiError(
                400, "InvalidJobDefinition", "outputDataUri must name a blob, not a container"
            )
    blob = cloud.store.get_blob(account, container, blob_name)
    if blob is None:
        raise ApiError(400, "InvalidJobDefinition", f"Input data blob {blob_name!r} not found.")
    if body.target not in cloud.backends(AZURE):
        raise ApiError(400, "InvalidJobDefinition", f"Target {body.target!r} not found.")
    spec = azure_targets.target(body.target)
    priority = _priority(body.priority)
    input_params = body.inputParams or {}
    attributes = {
        "name": body.name,
        "providerId": _provider(spec, body.providerId, "InvalidJobDefinition"),
        "inputDataUri": body.inputDataUri,
        "outputDataFormat": body.outputDataFormat,
        "inputParams": input_params,
        "metadata": body.metadata,
        "priority": priority,
        "tags": body.tags or [],
        "output_blob": output,
        "costEstimate": azure_targets.cost_estimate(
            spec, body.inputDataFormat, blob.data, input_params
        ),
    }
    try:
        job = cloud.submit(
            tenant,
            AZURE,
            body.target,
            body.inputDataFormat,
            params=blob.data,
            attributes=attributes,
            session_id=body.sessionId,
            job_id=job_id,
            shots=azure_shots_asked(input_params),
        )
    except NotFound:  # the target was checked above: it is the session
        raise ApiError(404, "SessionNotFound", f"Session {body.sessionId} not found.") from None
    except Conflict:
        raise ApiError(409, "Conflict", f"Job {job_id} already exists.") from None
    except SessionClosedError:
        session = cloud.session(tenant, body.sessionId or "")
        message = (
            SESSION_TERMINAL
            if session.core.ended
            else "Session is closed and no longer accepts jobs."
        )
        raise ApiError(400, "InvalidJobDefinition", message) from None
    except InvalidEventError as exc:
        raise ApiError(400, "InvalidJobDefinition", str(exc)) from None
    except JobLimitError as exc:
        raise ApiError(400, "InvalidJobDefinition", f"Invalid inputParams: {exc}.") from None
    return job_json(request, cloud, job)


@router.get("/jobs/{job_id}")
def get_job(*, job_id: ItemId, request: Request, tenant: Tenant, cloud: CloudDep) -> dict[str, Any]:
    return job_json(request, cloud, _job(cloud, tenant, job_id))


class JobUpdate(BaseModel):
    """``PATCH /jobs/{id}`` (``JobUpdateOptions``, a JSON merge patch): what may change."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=500)
    priority: str | None = None
    tags: list[Annotated[str, Field(max_length=500)]] | None = Field(default=None, max_length=100)


@router.patch("/jobs/{job_id}")
def update_job(
    *, job_id: ItemId, body: JobUpdate, tenant: Tenant, cloud: CloudDep
) -> dict[str, Any]:
    """Change a job's name, priority or tags; answers the new values (``JobUpdateResponse``)."""
    _job(cloud, tenant, job_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "priority" in changes:
        changes["priority"] = _priority(changes["priority"])
    if not changes:
        raise ApiError(
            400, "InvalidJobDefinition", "Send at least one of 'name', 'priority' or 'tags'."
        )
    job = cloud.update_job_attributes(tenant, job_id, changes)
    return {
        "id": job.id,
        "name": job.attrs.get("name"),
        "priority": job.attrs.get("priority"),
        "tags": job.attrs.get("tags") or [],
    }


@router.get("/jobs")
def list_jobs(
    *,
    request: Request,
    tenant: Tenant,
    cloud: CloudDep,
    filter: str | None = None,
    skip: Skip = 0,
    top: Top = 100,
    orderby: str | None = None,
) -> dict[str, Any]:
    items = [job_json(request, cloud, j) for j in cloud.jobs(tenant, AZURE)]
    return _page(request, items, filter=filter, orderby=orderby, skip=skip, top=top)


@router.post("/jobs/{job_id}:cancel")
def cancel_job(
    *, job_id: ItemId, request: Request, tenant: Tenant, cloud: CloudDep
) -> dict[str, Any]:
    _job(cloud, tenant, job_id)
    try:
        job = cloud.cancel_job(tenant, job_id)
    except Conflict as exc:
        raise ApiError(409, "JobNotCancellable", str(exc)) from None
    return job_json(request, cloud, job)


# Blob storage --------------------------------------------------------------------------------


class AccountConvertor(Convertor[str]):
    """Storage account names the emulator hands out, so the blob routes never shadow the
    REST routes."""

    regex = ACCOUNT_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("account", AccountConvertor())
CONTAINER = "/{account:account}/{container}"
BLOB = "/{account:account}/{container}/{blob:path}"


def _authorize(
    request: Request, account: str, container: str, blob: str | None, allowed: str
) -> None:
    """403 in the Storage shape unless the request's SAS grants one of ``allowed`` here."""
    tenancy: Tenancy = request.app.state.tenancy
    try:
        tenancy.verify_sas(
            account,
            container,
            blob,
            request.query_params,
            allowed=allowed,
            now=time.time(),
            https=request.url.scheme == "https",
            client=None if request.client is None else request.client.host,
        )
    except Forbidden as exc:
        raise ApiError(403, exc.code, str(exc)) from None


@storage.api_route(CONTAINER, methods=["PUT"], operation_id="create_container")
@storage.api_route(CONTAINER, methods=["GET"], operation_id="get_container_properties")
@storage.api_route(CONTAINER, methods=["HEAD"], operation_id="head_container")
def container(
    *, account: str, container: str, request: Request, restype: str | None = None
) -> Response:
    """Container existence and creation (older clients); containers exist once signed."""
    _authorize(request, account, container, None, "cw" if request.method == "PUT" else "r")
    if restype != "container":
        raise ApiError(400, "InvalidQueryParameterValue", "Expected restype=container.")
    status = 201 if request.method == "PUT" else 200
    return Response(status_code=status, headers={"ETag": f'"{new_id()}"'})


@storage.put(BLOB, status_code=201, operation_id="put_blob")
async def put_blob(*, account: str, container: str, blob: str, request: Request) -> Response:
    """Upload a block blob in one request (what azure-storage-blob does for small data):
    overwriting needs ``w``, creating ``c`` or ``w``."""
    cloud: Cloud = request.app.state.cloud
    exists = cloud.store.get_blob(account, container, blob) is not None
    _authorize(request, account, container, blob, "w" if exists else "cw")
    if request.headers.get("x-ms-blob-type", "BlockBlob") != "BlockBlob":
        raise ApiError(400, "InvalidHeaderValue", "Only BlockBlob is supported.")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BLOB_BYTES):
        raise ApiError(413, "RequestBodyTooLarge", "The blob is larger than 64 MiB.")
    data = await request.body()
    if len(data) > MAX_BLOB_BYTES:
        raise ApiError(413, "RequestBodyTooLarge", "The blob is larger than 64 MiB.")
    row = BlobRow(
        account,
        container,
        blob,
        data,
        request.headers.get("x-ms-blob-content-type") or request.headers.get("content-type"),
        request.headers.get("x-ms-blob-content-encoding"),
        new_id(),
        time.time(),
    )
    cloud.store.put_blob(row)
    return Response(
        status_code=201,
        headers={
            "ETag": f'"{row.etag}"',
            "Last-Modified": formatdate(row.modified, usegmt=True),
            "x-ms-request-server-encrypted": "false",
        },
    )


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
#: Response headers a SAS may override (they are signed).
_OVERRIDES = {
    "rscc": "Cache-Control",
    "rscd": "Content-Disposition",
    "rsce": "Content-Encoding",
    "rscl": "Content-Language",
    "rsct": "Content-Type",
}


@storage.api_route(BLOB, methods=["GET"], operation_id="get_blob")
@storage.api_route(BLOB, methods=["HEAD"], operation_id="get_blob_properties")
def get_blob(
    *,
    account: str,
    container: str,
    blob: str,
    request: Request,
    x_ms_range: Annotated[str | None, Header()] = None,
    range: Annotated[str | None, Header()] = None,
) -> Response:
    """Download a blob (honouring ``x-ms-range`` and the SAS's signed header overrides) or,
    with HEAD, its properties."""
    _authorize(request, account, container, blob, "r")
    cloud: Cloud = request.app.state.cloud
    row = cloud.store.get_blob(account, container, blob)
    if row is None:
        raise ApiError(404, "BlobNotFound", "The specified blob does not exist.")
    headers = {
        "ETag": f'"{row.etag}"',
        "Last-Modified": formatdate(row.modified, usegmt=True),
        "x-ms-blob-type": "BlockBlob",
        "Accept-Ranges": "bytes",
        "Content-Type": row.content_type or "application/octet-stream",
    }
    if row.content_encoding:
        headers["Content-Encoding"] = row.content_encoding
    for parameter, header in _OVERRIDES.items():
        if request.query_params.get(parameter):
            headers[header] = request.query_params[parameter]
    size = len(row.data)
    wanted = x_ms_range or range
    if request.method == "HEAD" or wanted is None:
        headers["Content-Length"] = str(size)
        body = b"" if request.method == "HEAD" else row.data
        return Response(body, status_code=200, headers=headers)
    match = _RANGE.match(wanted)
    if match is None:
        raise ApiError(400, "InvalidRange", f"Unsupported range {wanted!r}.")
    start = int(match.group(1))
    end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
    if start >= size or start > end:
        raise ApiError(416, "InvalidRange", "The range specified is invalid for the blob size.")
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(row.data[start : end + 1], status_code=206, headers=headers)
