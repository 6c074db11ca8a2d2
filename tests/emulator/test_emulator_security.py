"""Who may do what, and what a careless or hostile client cannot break: the admin key, clock
bounds, storage signatures, secrets and file permissions, token expiry, log redaction, the
docs pages, and the provider-shaped 4xx (never a 500, never a change) for bad input."""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient, generate_blob_sas, generate_container_sas
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import RuntimeEncoder
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from qsession.adapters.emulator import SQLiteStore, azure_workspace
from qsession.adapters.emulator.auth import ADMIN_HEADER, RedactSecrets, Tenancy
from qsession.adapters.emulator.clock import (
    HORIZON,
    MAX_ADVANCE,
    MAX_SPEED,
    ClockError,
    ServerClock,
)
from qsession.adapters.emulator.serve import build, main, running

from .conftest import ADMIN_KEY, Emulator
from .test_emulator_tenancy import BELL, WS, ibm_headers, is_azure_error, is_ibm_error

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AZURE = {"x-ms-quantum-api-key": "alice"}


def rows(emulator: Emulator) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the emulator's database (SQLite: read through a second
    connection; PostgreSQL: through the store's, outside any transaction, so only what was
    committed)."""
    store = emulator.cloud.store
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as db:
            names = db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = [t for (t,) in names]
            return {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    with store.transaction():
        names = store._execute(  # type: ignore[attr-defined]
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {
            t: sorted(store._execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # type: ignore[attr-defined]
            for (t,) in names
        }


def azure_session(emulator: Emulator, key: str = "alice", session_id: str = "s-1") -> str:
    answer = httpx.put(
        f"{emulator.url}{WS}/sessions/{session_id}",
        json={"providerId": "ionq", "target": "ionq.simulator"},
        headers={"x-ms-quantum-api-key": key},
    )
    assert answer.status_code == 200, answer.text
    return session_id


def ibm_session(emulator: Emulator, headers: dict[str, str]) -> str:
    answer = httpx.post(
        f"{emulator.url}/api/v1/sessions", json={"backend": "fake_manila"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


# Who may move the clock --------------------------------------------------------------------


def test_a_tenant_key_cannot_advance_everyones_clock(emulator: Emulator) -> None:
    alices = azure_session(emulator, "alice")
    alice_ibm = ibm_headers(emulator, "alice")
    alices_ibm = ibm_session(emulator, alice_ibm)
    before = rows(emulator)
    for headers in ({"x-ms-quantum-api-key": "mallory"}, ibm_headers(emulator, "mallory")):
        answer = httpx.post(
            f"{emulator.url}/emulator/v1/clock/advance", json={"seconds": 700}, headers=headers
        )
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "Forbidden"
        assert ADMIN_HEADER in answer.json()["error"]["message"]
    assert rows(emulator) == before
    status = httpx.get(f"{emulator.url}{WS}/sessions/{alices}", headers=AZURE).json()["status"]
    ibm = httpx.get(f"{emulator.url}/api/v1/sessions/{alices_ibm}", headers=alice_ibm).json()
    assert (status, ibm["state"]) == ("Waiting", "open")


def test_the_admin_key_advances_the_clock(emulator: Emulator) -> None:
    alices = azure_session(emulator)
    assert emulator.advance(700) == pytest.approx(700)
    status = httpx.get(f"{emulator.url}{WS}/sessions/{alices}", headers=AZURE).json()["status"]
    assert status == "TimedOut"


def test_a_wrong_admin_key_is_refused(emulator: Emulator) -> None:
    answer = httpx.post(
        f"{emulator.url}/emulator/v1/clock/advance",
        json={"seconds": 5},
        headers={ADMIN_HEADER: ADMIN_KEY + "x"},
    )
    assert answer.status_code == 403 and is_azure_error(answer)


def test_a_server_without_an_admin_key_has_no_admin_routes(
    start_emulator: Callable[..., Emulator],
) -> None:
    emulator = start_emulator(admin_key=None)
    answer = httpx.post(
        f"{emulator.url}/emulator/v1/clock/advance",
        json={"seconds": 5},
        headers={ADMIN_HEADER: ADMIN_KEY},
    )
    assert answer.status_code == 403
    assert "--admin-key" in answer.json()["error"]["message"]


def test_any_tenant_key_reads_the_clock_and_none_does_not(emulator: Emulator) -> None:
    assert httpx.get(f"{emulator.url}/emulator/v1/clock", headers=AZURE).status_code == 200
    assert httpx.get(f"{emulator.url}/emulator/v1/clock").status_code == 401


# Clock bounds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds",
    ["0", "-1", "NaN", "Infinity", "-Infinity", "1e300", "true", '"60"', str(MAX_ADVANCE + 1)],
)
def test_an_advance_outside_the_bounds_is_refused_and_changes_nothing(
    emulator: Emulator, seconds: str
) -> None:
    azure_session(emulator)
    before = rows(emulator)
    answer = httpx.post(
        f"{emulator.url}/emulator/v1/clock/advance",
        content=f'{{"seconds": {seconds}}}',
        headers={ADMIN_HEADER: ADMIN_KEY, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and is_azure_error(answer), answer.text
    assert rows(emulator) == before


def test_the_clock_cannot_be_advanced_past_its_horizon(emulator: Emulator) -> None:
    steps = math.floor(HORIZON / MAX_ADVANCE)
    for _ in range(steps):
        emulator.advance(MAX_ADVANCE)
    before = rows(emulator)
    answer = httpx.post(
        f"{emulator.url}/emulator/v1/clock/advance",
        json={"seconds": MAX_ADVANCE},
        headers={ADMIN_HEADER: ADMIN_KEY},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidClockAdvance"
    assert "horizon" in answer.json()["error"]["message"]
    assert rows(emulator) == before
    opened = httpx.put(
        f"{emulator.url}{WS}/sessions/late",
        json={"providerId": "ionq", "target": "ionq.simulator"},
        headers=AZURE,
    )
    assert opened.status_code == 200
    assert datetime.fromisoformat(opened.json()["creationTime"]).year < 9999


def test_a_real_clock_stops_at_its_horizon() -> None:
    clock = ServerClock(speed=MAX_SPEED, start=HORIZON)
    assert clock.now() == HORIZON
    assert ServerClock.resumed(clock.reading()) == HORIZON


@pytest.mark.parametrize(
    "kwargs",
    [
        {"speed": math.inf},
        {"speed": 1e300},
        {"speed": math.nan},
        {"speed": 0},
        {"speed": -2},
        {"speed": True},
        {"start": -1.0},
        {"start": math.inf},
        {"start": 2 * HORIZON},
    ],
)
def test_clock_inputs_outside_their_range_raise_clock_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ClockError):
        ServerClock(**kwargs)


@pytest.mark.parametrize("speed", ["inf", "1e300", "nan", "0", "-2", "1e5"])
def test_serve_refuses_an_unbounded_speed_in_one_line(
    speed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "x.db"
    assert main(["--speed", speed, "--db", str(db), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qsession serve: --speed"), err
    assert not db.exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("clock", json.dumps({"t": 3.8e11, "wall": time.time(), "rate": 0.0})),
        ("clock", json.dumps({"t": 10.0, "wall": time.time(), "rate": math.inf})),
        ("epoch", "-inf"),
        ("epoch", "nan"),
    ],
)
def test_a_broken_stored_clock_is_refused_at_start(
    key: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "broken.db"
    store = SQLiteStore(db)
    store.set_meta(key, value)
    store.close()
    with pytest.raises(ClockError):
        build(str(db), virtual=True)
    assert main(["--db", str(db), "--port", "0", "--virtual"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"qsession serve: cannot use {str(db)!r}"), err


# Storage signatures ------------------------------------------------------------------------


@pytest.fixture
def job(emulator: Emulator) -> Any:
    """A finished IonQ job of alice's, submitted with the real azure-quantum client."""
    ionq = azure_workspace(emulator.url, api_key="alice").get_targets("ionq.simulator")
    submitted = ionq.submit(BELL, name="signed", shots=10)
    submitted.wait_until_completed()
    return submitted


def _account_container(job: Any) -> tuple[str, str]:
    account, container = httpx.URL(job.details.container_uri).path.strip("/").split("/")[:2]
    return account, container


def _sdk_sas(emulator: Emulator, job: Any, blob: str | None = None, **kwargs: Any) -> str:
    """A SAS signed by azure-storage-blob itself with the account's key."""
    account, container = _account_container(job)
    key = emulator.tenancy.account_key(account)
    kwargs.setdefault("expiry", datetime.now(UTC) + timedelta(hours=1))
    if blob is None:
        return str(generate_container_sas(account, container, account_key=key, **kwargs))
    return str(generate_blob_sas(account, container, blob, account_key=key, **kwargs))


def _blob_url(emulator: Emulator, job: Any, blob: str, sas: str) -> str:
    account, container = _account_container(job)
    return f"{emulator.url}/{account}/{container}/{blob}?{sas}"


def _input(emulator: Emulator, job: Any) -> bytes:
    account, container = _account_container(job)
    row = emulator.cloud.store.get_blob(account, container, "inputData")
    assert row is not None
    return row.data


def test_a_sas_signed_by_the_storage_sdk_reads_and_writes(emulator: Emulator, job: Any) -> None:
    sas = _sdk_sas(emulator, job, permission="rcw")
    client = BlobClient.from_blob_url(_blob_url(emulator, job, "extra", sas))
    client.upload_blob(b"attached", overwrite=True)
    assert client.download_blob().readall() == b"attached"


def test_an_expired_sas_is_refused(emulator: Emulator, job: Any) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    sas = _sdk_sas(emulator, job, "rawOutputData", permission="r", expiry=past)
    with pytest.raises(HttpResponseError) as caught:
        BlobClient.from_blob_url(_blob_url(emulator, job, "rawOutputData", sas)).download_blob()
    assert caught.value.status_code == 403
    assert caught.value.error_code == "AuthenticationFailed"
    own = emulator.tenancy.sas(*_account_container(job), permissions="r", expiry=0)
    answer = httpx.get(_blob_url(emulator, job, "rawOutputData", own))
    assert answer.status_code == 403
    assert "time frame" in answer.text


def test_a_sas_that_starts_later_is_refused(emulator: Emulator, job: Any) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    sas = _sdk_sas(emulator, job, "rawOutputData", permission="r", start=later)
    answer = httpx.get(_blob_url(emulator, job, "rawOutputData", sas))
    assert answer.status_code == 403 and answer.headers["x-ms-error-code"] == "AuthenticationFailed"


def test_a_read_only_sas_cannot_overwrite_a_jobs_input(emulator: Emulator, job: Any) -> None:
    original = _input(emulator, job)
    sas = _sdk_sas(emulator, job, permission="r")
    client = BlobClient.from_blob_url(_blob_url(emulator, job, "inputData", sas))
    with pytest.raises(HttpResponseError) as caught:
        client.upload_blob(b"overwritten", overwrite=True)
    assert caught.value.status_code == 403
    assert caught.value.error_code == "AuthorizationPermissionMismatch"
    create_only = _sdk_sas(emulator, job, permission="c")
    answer = httpx.put(
        _blob_url(emulator, job, "inputData", create_only),
        content=b"overwritten",
        headers={"x-ms-blob-type": "BlockBlob"},
    )
    assert answer.status_code == 403
    assert _input(emulator, job) == original


def test_the_output_sas_is_read_only_and_scoped_to_its_blob(emulator: Emulator, job: Any) -> None:
    output = job.details.output_data_uri
    assert httpx.get(output).status_code == 200
    params = httpx.URL(output).params
    assert (params["sp"], params["sr"]) == ("r", "b")
    other = httpx.get(output.replace("/rawOutputData?", "/inputData?"))
    assert other.status_code == 403 and other.headers["x-ms-error-code"] == "AuthenticationFailed"
    write = httpx.put(output, content=b"x", headers={"x-ms-blob-type": "BlockBlob"})
    assert write.status_code == 403
    assert write.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("se", "2099-12-31T23:59:59Z"),
        ("sp", "racwd"),
        ("sr", "c"),
        ("sv", "2025-01-05"),
        ("st", "2020-01-01T00:00:00Z"),
        ("sip", "127.0.0.1"),
        ("rsct", "text/html"),
    ],
)
def test_changing_any_signed_field_breaks_the_signature(
    emulator: Emulator, job: Any, field: str, value: str
) -> None:
    output = httpx.URL(job.details.output_data_uri)
    tampered = output.copy_set_param(field, value)
    answer = httpx.get(str(tampered))
    assert answer.status_code == 403, (field, answer.text)
    assert answer.headers["x-ms-error-code"] == "AuthenticationFailed"


def test_protocol_and_source_ip_restrictions_are_enforced(emulator: Emulator, job: Any) -> None:
    blob = "rawOutputData"
    https_only = _sdk_sas(emulator, job, blob, permission="r", protocol="https")
    elsewhere = _sdk_sas(emulator, job, blob, permission="r", ip="10.0.0.1")
    here = _sdk_sas(emulator, job, blob, permission="r", ip="127.0.0.0-127.0.0.255")
    codes = [
        httpx.get(_blob_url(emulator, job, blob, sas)).headers.get("x-ms-error-code")
        for sas in (https_only, elsewhere)
    ]
    assert codes == ["AuthorizationProtocolMismatch", "AuthorizationSourceIPMismatch"]
    assert httpx.get(_blob_url(emulator, job, blob, here)).status_code == 200


def test_signed_response_header_overrides_are_applied(emulator: Emulator, job: Any) -> None:
    sas = _sdk_sas(emulator, job, "rawOutputData", permission="r", content_type="text/plain")
    answer = httpx.get(_blob_url(emulator, job, "rawOutputData", sas))
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/plain"


# Secrets and file permissions ----------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_database_its_wal_and_shm_and_the_key_file_are_private(
    tmp_path: Path, umask_022: None
) -> None:
    db = tmp_path / "private.db"
    store = SQLiteStore(db)
    store.set_meta("probe", "1")
    store.secret()
    try:
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.key")]
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
            f.name: 0o600 for f in files
        }
    finally:
        store.close()


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    SQLiteStore(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_the_signing_secret_is_not_in_the_database(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SQLiteStore(db)
    token = Tenancy(store).issue_token("alice")["access_token"]
    secret = store.secret()
    store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*") if p.suffix != ".key")
    assert secret not in stored
    assert jwt.decode(str(token), secret, algorithms=["HS256"])["iss"] == "qsession"


def test_a_secret_an_older_version_stored_moves_out_of_the_database(tmp_path: Path) -> None:
    db = tmp_path / "legacy.db"
    store = SQLiteStore(db)
    store.set_meta("secret", "ab" * 32)
    store.close()
    store = SQLiteStore(db)
    assert store.secret() == b"ab" * 32
    assert store.get_meta("secret") is None
    store.close()
    assert SQLiteStore(db).secret() == b"ab" * 32


def _token(secret: bytes, **claims: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def test_a_token_without_exp_or_past_it_is_refused(emulator: Emulator) -> None:
    secret = emulator.cloud.store.secret()
    issued = emulator.tenancy.issue_token("alice")["access_token"]
    key_id = jwt.decode(str(issued), secret, algorithms=["HS256"])["sub"]
    now = int(time.time())
    forever = _token(secret, sub=key_id, iat=now, iss="qsession")
    expired = _token(secret, sub=key_id, iat=now - 7200, exp=now - 3600, iss="qsession")
    for token in (forever, expired):
        answer = httpx.get(
            f"{emulator.url}/api/v1/backends", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401 and is_ibm_error(answer)


def test_a_token_of_a_key_no_longer_configured_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    with running(build(db, virtual=True, api_keys=["K1"])) as url:
        token = httpx.post(f"{url}/identity/token", data={"apikey": "K1"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{url}/api/v1/backends", headers=headers).status_code == 200
    with running(build(db, virtual=True, api_keys=["K2"])) as url:
        refused = httpx.get(f"{url}/api/v1/backends", headers=headers)
        assert refused.status_code == 401
        assert "no longer accepts" in refused.json()["errors"][0]["message"]
        fresh = httpx.post(f"{url}/identity/token", data={"apikey": "K2"}).json()["access_token"]
        ok = httpx.get(f"{url}/api/v1/backends", headers={"Authorization": f"Bearer {fresh}"})
        assert ok.status_code == 200


# Logs ----------------------------------------------------------------------------------------


def test_the_logs_redact_signatures_tokens_and_keys(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "qsession.adapters.emulator.serve"),
            *("--port", "0", "--db", str(tmp_path / "log.db"), "--log-level", "trace"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert url is not None
        base = url.group()
        jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ"
        httpx.get(f"{base}/qs{'0' * 22}/c/b?sv=2023-11-03&sr=b&sp=r&sig=TOPSECRETSIG%3D")
        httpx.get(f"{base}/api/v1/backends?access_token={jwt_like}")
        httpx.post(f"{base}/identity/token?apikey=MYAPIKEY", data={"apikey": "MYAPIKEY"})
        httpx.get(f"{base}{WS}/sessions", headers={"x-ms-quantum-api-key": "MYAZUREKEY"})
        httpx.post(f"{base}/emulator/v1/clock/advance", headers={ADMIN_HEADER: "MYADMINKEY"})
        process.terminate()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    logged = out + err
    assert "GET /qs" in logged and "sig=REDACTED" in logged
    for secret in ("TOPSECRETSIG", jwt_like, "MYAPIKEY", "MYAZUREKEY", "MYADMINKEY"):
        assert secret not in logged


def test_the_redaction_filter_covers_arguments_and_tracebacks() -> None:
    import logging  # noqa: PLC0415 - only this test builds records by hand

    try:
        raise ValueError("bad url http://h/a?sig=SECRET1&x=1")
    except ValueError:
        record = logging.LogRecord(
            "qsession", logging.ERROR, __file__, 1, "got %s", ("Bearer SECRET2",), sys.exc_info()
        )
    RedactSecrets().filter(record)
    text = logging.Formatter().format(record)
    assert "SECRET1" not in text and "SECRET2" not in text and "sig=REDACTED" in text


# Docs pages ----------------------------------------------------------------------------------


def test_the_docs_pages_are_served_only_when_asked_for(
    emulator: Emulator, start_emulator: Callable[..., Emulator]
) -> None:
    pages = ("/docs", "/redoc", "/openapi.json")
    assert [httpx.get(f"{emulator.url}{p}").status_code for p in pages] == [404, 404, 404]
    with_docs = start_emulator(docs=True)
    assert [httpx.get(f"{with_docs.url}{p}").status_code for p in pages] == [200, 200, 200]


# Bad input: provider-shaped 4xx, nothing changed --------------------------------------------


def isa_circuit(measure: bool = False) -> QuantumCircuit:
    """A one-qubit H (measured if ``measure``) as an ISA circuit of fake_manila."""
    circuit = QuantumCircuit(1)
    circuit.h(0)
    if measure:
        circuit.measure_all()
    return generate_preset_pass_manager(backend=FakeManilaV2(), optimization_level=1).run(circuit)


def _estimator_params(precision: Any = None, default_precision: Any = None) -> dict[str, Any]:
    circuit = isa_circuit()
    observable = "Z" + "I" * (circuit.num_qubits - 1)
    pub = (circuit, observable, None, precision) if precision is not None else (circuit, observable)
    options = {} if default_precision is None else {"default_precision": default_precision}
    encoded = json.dumps({"pubs": [pub], "version": 2, "options": options}, cls=RuntimeEncoder)
    return dict(json.loads(encoded))


def _sampler_params(default_shots: Any) -> dict[str, Any]:
    circuit = isa_circuit(measure=True)
    options = {"default_shots": default_shots}
    encoded = json.dumps(
        {"pubs": [(circuit,)], "version": 2, "options": options}, cls=RuntimeEncoder
    )
    return dict(json.loads(encoded))


def _post_ibm_job(emulator: Emulator, program: str, params: dict[str, Any]) -> httpx.Response:
    body = {"program_id": program, "backend": "fake_manila", "params": params}
    return httpx.post(
        f"{emulator.url}/api/v1/jobs",
        content=json.dumps(body),  # NaN and Infinity as Python's json writes them
        headers={**ibm_headers(emulator), "Content-Type": "application/json"},
    )


@pytest.mark.parametrize("precision", [math.nan, math.inf, 1e-200, 0.0, -0.1, 1e-5])
@pytest.mark.parametrize("where", ["pub", "options"])
def test_an_estimator_precision_out_of_range_gets_400(
    emulator: Emulator, precision: float, where: str
) -> None:
    params = (
        _estimator_params(precision=precision)
        if where == "pub"
        else _estimator_params(default_precision=precision)
    )
    before = rows(emulator)
    answer = _post_ibm_job(emulator, "estimator", params)
    assert answer.status_code == 400 and is_ibm_error(answer), answer.text
    assert "precision" in answer.json()["errors"][0]["message"]
    assert rows(emulator) == before


def test_a_valid_estimator_precision_is_accepted(emulator: Emulator) -> None:
    assert _post_ibm_job(emulator, "estimator", _estimator_params(precision=0.05)).is_success


@pytest.mark.parametrize("shots", [0, -1, True, 1.5, "100", 10**9])
def test_a_sampler_default_shots_out_of_range_gets_400(emulator: Emulator, shots: Any) -> None:
    before = rows(emulator)
    answer = _post_ibm_job(emulator, "sampler", _sampler_params(shots))
    assert answer.status_code == 400 and is_ibm_error(answer), answer.text
    assert "default_shots" in answer.json()["errors"][0]["message"]
    assert rows(emulator) == before


@pytest.mark.parametrize("max_ttl", ["true", "1.5", '"60"', "0"])
def test_an_ibm_max_ttl_that_is_not_a_whole_number_gets_400(
    emulator: Emulator, max_ttl: str
) -> None:
    before = rows(emulator)
    answer = httpx.post(
        f"{emulator.url}/api/v1/sessions",
        content=f'{{"backend": "fake_manila", "max_ttl": {max_ttl}}}',
        headers={**ibm_headers(emulator), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and is_ibm_error(answer), answer.text
    assert rows(emulator) == before


@pytest.mark.parametrize(
    ("container", "input_uri"),
    [("http://[", None), ("http://[::1", None), ("ok", "http://[::1"), ("ok", "http://[")],
)
def test_a_malformed_azure_job_uri_gets_400(
    emulator: Emulator, job: Any, container: str, input_uri: str | None
) -> None:
    before = rows(emulator)
    body: dict[str, Any] = {
        "providerId": "ionq",
        "target": "ionq.simulator",
        "inputDataFormat": "ionq.circuit.v1",
        "containerUri": job.details.container_uri if container == "ok" else container,
    }
    if input_uri is not None:
        body["inputDataUri"] = input_uri
    answer = httpx.put(f"{emulator.url}{WS}/jobs/bad-uri", json=body, headers=AZURE)
    assert answer.status_code == 400 and is_azure_error(answer), answer.text
    assert answer.json()["error"]["code"] == "InvalidJobDefinition"
    assert rows(emulator) == before


def test_a_provider_id_that_is_not_the_targets_gets_400(emulator: Emulator, job: Any) -> None:
    before = rows(emulator)
    session = httpx.put(
        f"{emulator.url}{WS}/sessions/mismatch",
        json={"providerId": "quantinuum", "target": "ionq.simulator"},
        headers=AZURE,
    )
    submitted = httpx.put(
        f"{emulator.url}{WS}/jobs/mismatch",
        json={
            "providerId": "rigetti",
            "target": "ionq.simulator",
            "inputDataFormat": "ionq.circuit.v1",
            "containerUri": job.details.container_uri,
        },
        headers=AZURE,
    )
    assert (session.status_code, submitted.status_code) == (400, 400)
    assert session.json()["error"]["code"] == "InvalidSessionDefinition"
    assert submitted.json()["error"]["code"] == "InvalidJobDefinition"
    assert "'ionq'" in session.json()["error"]["message"]
    assert rows(emulator) == before


def test_a_repeated_close_changes_nothing_in_the_store(emulator: Emulator) -> None:
    headers = ibm_headers(emulator)
    sid = ibm_session(emulator, headers)
    aid = azure_session(emulator)
    verbs = [
        ("PATCH", f"/api/v1/sessions/{sid}", {"accepting_jobs": False}, headers),
        ("DELETE", f"/api/v1/sessions/{sid}/close", None, headers),
        ("POST", f"{WS}/sessions/{aid}:close", None, AZURE),
    ]
    for method, path, body, creds in verbs:
        first = httpx.request(method, f"{emulator.url}{path}", json=body, headers=creds)
        assert first.is_success, first.text
        after_first = rows(emulator)
        for _ in range(3):
            again = httpx.request(method, f"{emulator.url}{path}", json=body, headers=creds)
            assert again.status_code == first.status_code
        assert rows(emulator) == after_first, method + " " + path


def test_serve_refuses_an_empty_admin_key_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QSESSION_ADMIN_KEY", "")
    assert main(["--db", str(tmp_path / "x.db"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "qsession serve: --admin-key must not be empty\n"
