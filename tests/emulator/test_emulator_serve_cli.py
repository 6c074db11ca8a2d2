"""``qsession serve``: binds loopback, prints the client settings, stops cleanly on Ctrl-C;
and the app publishes an OpenAPI schema of the routes it serves."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from qsession.adapters.emulator.auth import ADMIN_HEADER
from qsession.adapters.emulator.serve import main

from .conftest import ADMIN_KEY, Emulator


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_the_client_settings_and_stops_cleanly(
    stop: signal.Signals, tmp_path: Path
) -> None:
    db = tmp_path / "cli.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "qsession.adapters.emulator.serve", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert url is not None, banner
        lines: list[str] = []
        while len(lines) < 40 and "_quantum_endpoint" not in "".join(lines):
            lines.append(process.stdout.readline())
        settings = "".join(lines)
        assert f'os.environ["IAM_URL"] = "{url.group()}"' in settings
        assert 'os.environ["QISKIT_FUNCTIONS_EXPERIMENTAL"] = "1"' in settings
        clock = httpx.get(f"{url.group()}/emulator/v1/clock", headers={"Authorization": "apikey k"})
        assert clock.json()["virtual"] is False
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert f'_quantum_endpoint="{url.group()}/"' in settings
    assert out.rstrip().endswith("qsession serve: stopped")
    assert db.exists()


def test_serve_refuses_a_port_it_cannot_bind(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["--port", port, "--db", str(tmp_path / "x.db")]) == 1


def test_the_openapi_schema_lists_both_providers_routes(
    start_emulator: Callable[..., Emulator],
) -> None:
    emulator = start_emulator(docs=True)
    schema = httpx.get(f"{emulator.url}/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/identity/token", "/api/v1/sessions", "/api/v1/jobs/{job_id}/results"} <= paths
    workspace = (
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        "/providers/Microsoft.Quantum/workspaces/{workspace}"
    )
    assert {f"{workspace}/sessions/{{session_id}}:close", f"{workspace}/jobs/{{job_id}}"} <= paths


@pytest.mark.parametrize("flags", [["--speed", "0"], ["--speed", "-2"], ["--port", "70000"]])
def test_serve_rejects_a_non_positive_speed_or_an_impossible_port(
    flags: list[str], tmp_path: Path
) -> None:
    assert main([*flags, "--db", str(tmp_path / "x.db")]) == 2


def test_advancing_a_real_clock_is_refused(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator(virtual=False)
    answer = httpx.post(
        f"{emulator.url}/emulator/v1/clock/advance",
        json={"seconds": 60},
        headers={ADMIN_HEADER: ADMIN_KEY},
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "ClockNotVirtual"


def test_serve_rejects_a_work_pool_of_no_threads_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--workers", "0", "--db", str(tmp_path / "x.db")]) == 2
    assert capsys.readouterr().err == "qsession serve: --workers must be at least 1\n"
