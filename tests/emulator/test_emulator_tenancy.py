"""Tenancy and safety: API keys, isolation between tenants, unguessable ids, and provider-shaped
4xx answers (never a 500, never a change) for unknown ids and wrong methods. The fuzz over every
route is ``test_emulator_fuzz.py``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from qiskit_ibm_runtime import Session
from qiskit_ibm_runtime.exceptions import IBMInputValueError
from qsession.adapters.emulator import azure_workspace, ibm_service
from qsession.adapters.emulator.clients import IBM_INSTANCE

from .conftest import BELL, Emulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WS = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/qsession"
    "/providers/Microsoft.Quantum/workspaces/emulator"
)


def ibm_headers(emulator: Emulator, key: str = "alice", crn: str = IBM_INSTANCE) -> dict[str, str]:
    token = httpx.post(
        f"{emulator.url}/identity/token",
        data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key},
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}", "Service-CRN": crn}


def snapshot(emulator: Emulator) -> Any:
    """Everything the store holds about sessions and jobs."""
    store = emulator.cloud.store
    return (store.load_sessions(), store.load_jobs())


def is_ibm_error(answer: httpx.Response) -> bool:
    body = answer.json()
    return body["status_code"] == answer.status_code and "message" in body["errors"][0]


def is_azure_error(answer: httpx.Response) -> bool:
    error = answer.json()["error"]
    return isinstance(error["code"], str) and isinstance(error["message"], str)


def test_one_ibm_tenant_can_neither_see_nor_close_anothers_session(emulator: Emulator) -> None:
    alice = ibm_service(emulator.url, token="alice")
    session = Session(backend=alice.backend("fake_manila"))
    bob = ibm_service(emulator.url, token="bob")
    with pytest.raises(IBMInputValueError, match="Session not found"):
        Session.from_id(session.session_id, bob)
    headers = ibm_headers(emulator, "bob")
    path = f"{emulator.url}/api/v1/sessions/{session.session_id}"
    closing = httpx.patch(path, json={"accepting_jobs": False}, headers=headers)
    cancelling = httpx.delete(f"{path}/close", headers=headers)
    assert (closing.status_code, cancelling.status_code) == (404, 404)
    assert is_ibm_error(closing) and is_ibm_error(cancelling)
    assert session.status() == "Pending"
    assert session.details()["accepting_jobs"] is True


def test_the_same_key_on_another_instance_is_another_tenant(emulator: Emulator) -> None:
    alice = ibm_service(emulator.url, token="alice")
    session = Session(backend=alice.backend("fake_manila"))
    other_crn = IBM_INSTANCE.replace("emulator", "elsewhere")
    answer = httpx.get(
        f"{emulator.url}/api/v1/sessions/{session.session_id}",
        headers=ibm_headers(emulator, "alice", other_crn),
    )
    assert answer.status_code == 404


def test_one_azure_workspace_can_neither_see_nor_close_anothers_session(
    emulator: Emulator,
) -> None:
    mine = azure_workspace(emulator.url, api_key="alice")
    theirs = azure_workspace(emulator.url, api_key="bob")
    session = mine.get_targets("ionq.simulator").open_session(name="private")
    with pytest.raises(ResourceNotFoundError):
        theirs.get_session(session.id)
    assert theirs.list_sessions() == []
    closing = httpx.post(
        f"{emulator.url}{WS}/sessions/{session.id}:close",
        headers={"x-ms-quantum-api-key": "bob"},
    )
    assert closing.status_code == 404 and is_azure_error(closing)
    assert mine.get_session(session.id).details.status == "Waiting"


def test_a_tenant_cannot_read_or_use_anothers_blobs(emulator: Emulator) -> None:
    ionq = azure_workspace(emulator.url, api_key="alice").get_targets("ionq.simulator")
    job = ionq.submit(BELL, name="private", shots=10)
    job.wait_until_completed()
    output = job.details.output_data_uri
    assert httpx.get(output).status_code == 200
    unsigned = httpx.get(output.split("?")[0])
    assert unsigned.status_code == 403
    assert unsigned.headers["x-ms-error-code"] == "AuthenticationFailed"
    forged = httpx.get(re.sub(r"sig=[^&]+", "sig=forged", output))
    assert forged.status_code == 403
    stolen = httpx.put(
        f"{emulator.url}{WS}/jobs/0a1b2c3d-steal",
        headers={"x-ms-quantum-api-key": "bob"},
        json={
            "providerId": "ionq",
            "target": "ionq.simulator",
            "containerUri": job.details.container_uri,
            "inputDataFormat": "ionq.circuit.v1",
        },
    )
    assert stolen.status_code == 400 and is_azure_error(stolen)


def test_every_request_needs_an_api_key(emulator: Emulator) -> None:
    ibm = httpx.get(f"{emulator.url}/api/v1/backends")
    azure = httpx.get(f"{emulator.url}{WS}/providerStatus")
    forged = httpx.get(
        f"{emulator.url}/api/v1/backends", headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert (ibm.status_code, azure.status_code, forged.status_code) == (401, 401, 401)
    assert is_ibm_error(ibm) and is_azure_error(azure) and is_ibm_error(forged)


def test_only_listed_api_keys_are_accepted(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator(api_keys=["good"])
    assert ibm_service(emulator.url, token="good").backend("fake_manila").name == "fake_manila"
    token = httpx.post(f"{emulator.url}/identity/token", data={"apikey": "bad"})
    assert token.status_code == 400
    assert (
        httpx.get(
            f"{emulator.url}/api/v1/backends", headers={"Authorization": "apikey bad"}
        ).status_code
        == 401
    )
    with pytest.raises(HttpResponseError) as caught:
        azure_workspace(emulator.url, api_key="bad").get_targets()
    assert caught.value.status_code == 401


def test_session_and_job_ids_are_unguessable(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    ids = [Session(backend=backend).session_id for _ in range(5)]
    assert len(set(ids)) == 5
    assert all(re.fullmatch(r"[0-9a-f]{24}", sid) for sid in ids)


def test_unknown_ids_get_404_in_the_providers_shape(emulator: Emulator) -> None:
    headers = ibm_headers(emulator)
    for path in ("/api/v1/sessions/nope", "/api/v1/jobs/nope", "/api/v1/jobs/nope/results"):
        answer = httpx.get(f"{emulator.url}{path}", headers=headers)
        assert answer.status_code == 404 and is_ibm_error(answer), path
    azure = {"x-ms-quantum-api-key": "alice"}
    for path in ("/sessions/nope", "/jobs/nope", "/sessions/nope/jobs"):
        answer = httpx.get(f"{emulator.url}{WS}{path}", headers=azure)
        assert answer.status_code == 404 and is_azure_error(answer), path


def test_wrong_methods_get_405_in_the_providers_shape(emulator: Emulator) -> None:
    ibm = httpx.put(f"{emulator.url}/api/v1/sessions", headers=ibm_headers(emulator))
    azure = httpx.delete(
        f"{emulator.url}{WS}/providerStatus", headers={"x-ms-quantum-api-key": "alice"}
    )
    assert (ibm.status_code, azure.status_code) == (405, 405)
    assert is_ibm_error(ibm) and is_azure_error(azure)


def test_a_job_for_a_closed_session_is_refused_and_not_created(emulator: Emulator) -> None:
    headers = ibm_headers(emulator)
    session = httpx.post(
        f"{emulator.url}/api/v1/sessions",
        json={"mode": "dedicated", "backend": "fake_manila"},
        headers=headers,
    ).json()
    httpx.patch(
        f"{emulator.url}/api/v1/sessions/{session['id']}",
        json={"accepting_jobs": False},
        headers=headers,
    )
    before = snapshot(emulator)
    answer = httpx.post(
        f"{emulator.url}/api/v1/jobs",
        json={
            "program_id": "sampler",
            "backend": "fake_manila",
            "session_id": session["id"],
            "params": {"pubs": []},
        },
        headers=headers,
    )
    assert answer.status_code == 400 and is_ibm_error(answer)
    assert snapshot(emulator) == before
