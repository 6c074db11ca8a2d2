"""A Hypothesis fuzz over every route the app serves (read from its OpenAPI schema, so a new
route is fuzzed without being listed): random JSON and near-valid bodies with one field made
hostile (non-finite and extreme numbers, booleans where numbers go, malformed URIs, mismatched
provider ids), good and bad credentials and signatures, wrong methods, and repeated verbs.

Every answer is below 500 and in the owning service's error shape, every refused request
leaves every stored row as it was, and a repeated close, cancel or read changes nothing."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit_ibm_runtime import RuntimeEncoder
from qsession.adapters.emulator import ServerClock, SQLiteStore, create_app, dashboard
from qsession.adapters.emulator.auth import ADMIN_HEADER, Tenancy
from qsession.adapters.emulator.clients import (
    AZURE_RESOURCE_GROUP,
    AZURE_SUBSCRIPTION,
    AZURE_WORKSPACE,
)
from qsession.core.records import JobState

from .conftest import ADMIN_KEY, Emulator
from .test_emulator_security import isa_circuit, rows
from .test_emulator_tenancy import BELL, WS, ibm_headers, is_azure_error, is_ibm_error

HOSTILE = st.sampled_from(
    [
        *(math.nan, math.inf, -math.inf, 1e300, -1e300, 1e-200, 0, 0.0, -0.0, -1, True, False),
        *(None, "1", "", 2**63, 10**30, [], {}, "x" * 300),
    ]
)
URIS = st.sampled_from(
    ["http://[", "http://[::1", "", "::", "not a uri", "http://h/%zz", "http://127.0.0.1:1/qs"]
)
PROVIDERS = st.sampled_from(["ionq", "IonQ", "quantinuum", "rigetti", "", "microsoft", "x" * 101])
FIELDS = [
    *("mode", "backend", "max_ttl", "accepting_jobs", "program_id", "params", "pubs"),
    *("options", "default_shots", "default_precision", "session_id", "target", "providerId"),
    *("containerUri", "inputDataUri", "inputDataFormat", "inputParams", "shots", "name"),
    *("jobFailurePolicy", "containerName", "blobName", "seconds", "sessionId"),
]
json_values = st.recursive(
    HOSTILE | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=12,
)
PARAM = re.compile(r"\{(\w+)\}")
#: Every route the app serves, with its methods: the schema's, and the dashboard's (which the
#: schema leaves out).
ROUTES: dict[str, dict[str, Any]] = create_app(
    SQLiteStore(":memory:"), ServerClock(virtual=True)
).openapi()["paths"]
for _route in dashboard.router.routes:
    ROUTES.setdefault(_route.path, {m.lower(): {} for m in _route.methods})
#: Verbs whose repetition after a success must change nothing.
REPEATABLE = ("/close", ":close", ":cancel", "/cancel")


def _pub_params(program: str, value: Any) -> dict[str, Any]:
    circuit = isa_circuit(measure=program == "sampler")
    if program == "sampler":
        pubs: list[Any] = [(circuit,)]
        options = {"default_shots": value}
    else:
        observable = "Z" + "I" * (circuit.num_qubits - 1)
        pubs, options = [(circuit, observable, None, value)], {}
    encoded = json.dumps({"pubs": pubs, "version": 2, "options": options}, cls=RuntimeEncoder)
    return dict(json.loads(encoded))


@st.composite
def near_valid(draw: st.DrawFn, path: str, world: dict[str, str]) -> Any:
    """A body the route would accept, with one field drawn hostile."""
    if path == "/api/v1/sessions":
        body: dict[str, Any] = {"backend": "fake_manila", "max_ttl": draw(HOSTILE)}
    elif path.startswith("/api/v1/sessions/"):
        body = {"accepting_jobs": draw(HOSTILE | st.booleans())}
    elif path == "/api/v1/jobs":
        program = draw(st.sampled_from(["sampler", "estimator"]))
        body = {
            "program_id": program,
            "backend": "fake_manila",
            "params": _pub_params(program, draw(HOSTILE)),
            "session_id": draw(st.sampled_from([None, world["ibm_session"]])),
        }
    elif path.endswith("/sessions/{session_id}"):
        body = {"providerId": draw(PROVIDERS), "target": "ionq.simulator"}
    elif path.endswith("/jobs/{job_id}"):
        body = {
            "providerId": draw(PROVIDERS),
            "target": "ionq.simulator",
            "inputDataFormat": "ionq.circuit.v1",
            "containerUri": draw(URIS | st.just(world["container_uri"])),
            "inputParams": {"shots": draw(HOSTILE | st.just(10))},
        }
        if draw(st.booleans()):
            body["inputDataUri"] = draw(URIS | st.just(world["input_uri"]))
    elif path.endswith("/storage/sasUri"):
        body = {"containerName": draw(st.sampled_from(["job-fuzz", "A", "x" * 70, ""]))}
    elif path.endswith("/clock/advance"):
        body = {"seconds": draw(HOSTILE)}
    else:
        body = draw(json_values)
    return body


_WORLDS: dict[str, dict[str, str]] = {}


def _world(emulator: Emulator) -> dict[str, str]:
    """Alice's IBM and Azure sessions, a container holding an input blob, its SAS variants."""
    if emulator.url in _WORLDS:
        return dict(_WORLDS[emulator.url])
    headers = ibm_headers(emulator)
    ibm_session = httpx.post(
        f"{emulator.url}/api/v1/sessions", json={"backend": "fake_manila"}, headers=headers
    ).json()["id"]
    azure = {"x-ms-quantum-api-key": "alice"}
    httpx.put(
        f"{emulator.url}{WS}/sessions/fuzz-session",
        json={"providerId": "ionq", "target": "ionq.simulator"},
        headers=azure,
    ).raise_for_status()
    container_uri = httpx.post(
        f"{emulator.url}{WS}/storage/sasUri", json={"containerName": "job-fuzz"}, headers=azure
    ).json()["sasUri"]
    base, _, sas = container_uri.partition("?")
    httpx.put(
        f"{base}/inputData?{sas}", content=json.dumps(BELL), headers={"x-ms-blob-type": "BlockBlob"}
    ).raise_for_status()
    account = httpx.URL(base).path.strip("/").split("/")[0]
    tenancy: Tenancy = emulator.tenancy
    world = {
        "headers": json.dumps(headers),
        "ibm_session": ibm_session,
        "azure_session": "fuzz-session",
        "container_uri": container_uri,
        "input_uri": f"{base}/inputData?{sas}",
        "account": account,
        "sas_rcw": sas,
        "sas_r": tenancy.sas(account, "job-fuzz", permissions="r"),
        "sas_expired": tenancy.sas(account, "job-fuzz", permissions="rcw", expiry=1.0),
        "sas_blob": tenancy.sas(account, "job-fuzz", "rawOutputData", permissions="r"),
        "sas_forged": re.sub(r"sig=[^&]+", "sig=forged", sas),
    }
    _WORLDS[emulator.url] = world
    return dict(world)


def _settle(emulator: Emulator) -> None:
    """Wait until no job is queued or running (the worker then writes nothing)."""
    deadline = time.monotonic() + 120
    while any(JobState(p.state).in_flight for _, p in emulator.cloud.store.load_jobs()):
        assert time.monotonic() < deadline, "jobs still in flight after 120 s"
        time.sleep(0.01)


def _is_error_shaped(path: str, answer: httpx.Response) -> bool:
    if path.startswith(("/api/", "/identity/")):
        return is_ibm_error(answer)
    if path.startswith(("/subscriptions/", "/emulator/")):
        return is_azure_error(answer)
    if re.match(r"^/qs[0-9a-f]{22}(/|$)", path):  # HEAD answers carry no body
        body = answer.request.method == "HEAD" or "<Error>" in answer.text
        return bool(answer.headers.get("x-ms-error-code")) and body
    return is_azure_error(answer)


@st.composite
def requests(
    draw: st.DrawFn, emulator: Emulator, template: str
) -> tuple[str, str, bytes, dict[str, str]]:
    world = _world(emulator)
    methods = sorted(ROUTES[template])
    method = draw(st.sampled_from([*methods, *methods, *methods, "get", "delete", "patch"]))
    ibm = template.startswith("/api/")
    values = {
        "subscription_id": AZURE_SUBSCRIPTION,
        "resource_group": AZURE_RESOURCE_GROUP,
        "workspace": draw(st.sampled_from([AZURE_WORKSPACE, "elsewhere"])),
        "session_id": draw(
            st.sampled_from(
                [world["ibm_session"] if ibm else world["azure_session"], "unknown", "x" * 300]
            )
        ),
        "job_id": draw(st.sampled_from(["fuzz-job", "unknown", "with space"])),
        "name": draw(st.sampled_from(["fake_manila", "nope"])),
        "account": draw(st.sampled_from([world["account"], "qs" + "0" * 22])),
        "container": draw(st.sampled_from(["job-fuzz", "other"])),
        "blob": draw(st.sampled_from(["inputData", "rawOutputData", "new"])),
    }
    path = PARAM.sub(lambda m: values[m.group(1)], template)
    if template.startswith("/{account}"):
        names = ["sas_rcw", "sas_r", "sas_expired", "sas_blob", "sas_forged"]
        path += "?" + world[draw(st.sampled_from(names))] + "&restype=container"
    kind = draw(st.sampled_from(["near", "near", "json", "raw"]))
    if kind == "near":
        body = draw(near_valid(template, world))
    else:
        body = draw(json_values if kind == "json" else st.binary(max_size=20))
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**json.loads(world["headers"]), "x-ms-quantum-api-key": "alice"}
    headers["Content-Type"] = "application/json"
    headers["x-ms-blob-type"] = "BlockBlob"
    admin = draw(st.sampled_from([None, ADMIN_KEY, "wrong"]))
    if admin is not None:
        headers[ADMIN_HEADER] = admin
    return method.upper(), path, content, headers


WRITES = sorted(t for t, methods in ROUTES.items() if {"post", "put", "patch"} & set(methods))
READS = sorted(set(ROUTES) - set(WRITES))


@pytest.mark.parametrize("template", WRITES)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), repeat=st.booleans())
def test_every_route_that_takes_a_body_refuses_hostile_ones_and_changes_nothing(
    emulator: Emulator, template: str, data: st.DataObject, repeat: bool
) -> None:
    check(emulator, template, data, repeat)


@pytest.mark.parametrize("template", READS)
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), repeat=st.booleans())
def test_every_read_route_answers_hostile_requests_with_a_shaped_4xx(
    emulator: Emulator, template: str, data: st.DataObject, repeat: bool
) -> None:
    check(emulator, template, data, repeat)


def check(emulator: Emulator, template: str, data: st.DataObject, repeat: bool) -> None:
    """One drawn request (twice if ``repeat``): below 500, shaped if refused, and nothing
    changed by a refusal or by repeating a close, a cancel or a read."""
    method, path, content, headers = data.draw(requests(emulator, template))
    for attempt in range(2 if repeat else 1):
        _settle(emulator)
        before = rows(emulator)
        answer = httpx.request(method, f"{emulator.url}{path}", content=content, headers=headers)
        assert answer.status_code < 500, answer.text
        if answer.status_code >= 400:
            assert _is_error_shaped(path.partition("?")[0], answer), answer.text
            assert rows(emulator) == before, (method, path, answer.text)
        elif attempt == 1 and (method == "GET" or template.endswith(REPEATABLE)):
            _settle(emulator)
            assert rows(emulator) == before, (method, path)
