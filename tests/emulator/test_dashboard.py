"""The dashboard at ``GET /``: a real browser (Debian's headless chromium, driven by Playwright)
watches sessions and jobs made with the real qiskit-ibm-runtime and azure-quantum clients
appear, live, with their status."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import SamplerV2, Session
from qsession.adapters.emulator import azure_workspace, ibm_service

from .conftest import BELL, Emulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Where Debian's chromium package puts the browser (``.ci/run`` installs it).
CHROMIUM = Path("/usr/bin/chromium")
#: A Bell pair in IonQ's JSON circuit format.
#: How long a browser wait may take before the test fails (milliseconds).
WAIT_MS = 120_000
#: Where the test run leaves the screenshot it checked.
SCREENSHOT = Path(__file__).parent.parent.parent / "build" / "dashboard.png"


def chromium() -> str:
    """The browser's path; without it the test skips, except under CI, where it fails."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    reason = f"no browser at {CHROMIUM}: install it with `apt-get install -y chromium`"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (.ci/run does; CI is set, so this does not skip)")
    pytest.skip(reason)


def bell_job(service_backend: object, session: Session) -> object:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    isa = generate_preset_pass_manager(backend=service_backend, optimization_level=1).run(qc)
    return SamplerV2(mode=session).run([isa], shots=100)


def test_dashboard_shows_sessions_and_jobs_appear_with_their_status(
    emulator: Emulator,
) -> None:
    executable = chromium()
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415 - after the skip

    # Waits end when the page shows what is expected; the limit only guards a hang, so that a
    # loaded machine (chromium's start, the page's 1 s refresh) is never mistaken for a failure.
    expect.set_options(timeout=WAIT_MS)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(WAIT_MS)
            page.goto(f"{emulator.url}/")
            page.fill("#key", "dashboard-key")
            page.click("button[type=submit]")
            expect(page.locator("#view")).to_contain_text("No sessions yet.")

            service = ibm_service(emulator.url, token="dashboard-key")
            backend = service.backend("fake_manila")
            session = Session(backend=backend, max_time="10m")
            row = page.locator(f'tr.session[data-id="{session.session_id}"]')
            expect(row.locator(".status")).to_have_text("Pending")
            expect(row).to_contain_text("fake_manila")

            job = bell_job(backend, session)
            job.result()
            job_row = page.locator(f'tr.job[data-id="{job.job_id()}"]')
            expect(job_row.locator(".status")).to_have_text("Completed")
            expect(job_row).to_contain_text(session.session_id)
            expect(row.locator(".status")).to_have_text("In progress, accepting new jobs")
            expect(row.locator("svg.timeline rect.run")).to_have_count(1)

            session.close()
            expect(row.locator(".status")).to_have_text("Closed")

            ionq = azure_workspace(emulator.url, api_key="dashboard-key").get_targets(
                "ionq.simulator"
            )
            with ionq.open_session(name="from the dashboard test") as azure_session:
                azure_job = ionq.submit(BELL, name="bell", shots=100)
                azure_job.wait_until_completed()
            azure_row = page.locator(f'tr.session[data-id="{azure_session.id}"]')
            expect(azure_row.locator(".status")).to_have_text("Succeeded")
            expect(azure_row).to_contain_text("ionq.simulator")
            azure_job_row = page.locator(f'tr.job[data-id="{azure_job.id}"]')
            expect(azure_job_row.locator(".status")).to_have_text("Succeeded")
            SCREENSHOT.parent.mkdir(exist_ok=True)
            png = page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    from PIL import Image  # noqa: PLC0415 - matplotlib's dependency, in the dev extra

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] == 1280 and image.size[1] >= 300
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20, "the screenshot is blank"
    white = max(count for count, colour in colours if colour == (255, 255, 255))
    assert white < 0.98 * image.size[0] * image.size[1], "the screenshot is blank"


def test_the_view_shows_only_the_callers_own_sessions(emulator: Emulator) -> None:
    service = ibm_service(emulator.url, token="alice")
    session = Session(backend=service.backend("fake_manila"))
    view = f"{emulator.url}/dashboard/v1/view"
    mine = httpx.get(view, headers={"Authorization": "apikey alice"})
    theirs = httpx.get(view, headers={"Authorization": "apikey bob"})
    assert mine.status_code == theirs.status_code == 200
    assert session.session_id in mine.text and "Pending" in mine.text
    assert session.session_id not in theirs.text and "No sessions yet." in theirs.text


def test_the_view_refuses_a_request_without_a_key(emulator: Emulator) -> None:
    answer = httpx.get(f"{emulator.url}/dashboard/v1/view")
    assert answer.status_code == 401
    assert "apikey" in answer.json()["error"]["message"]


def test_the_view_refuses_a_key_the_emulator_does_not_accept(
    start_emulator: Callable[..., Emulator],
) -> None:
    emulator = start_emulator(api_keys=["only-this"])
    view = f"{emulator.url}/dashboard/v1/view"
    assert httpx.get(view, headers={"Authorization": "apikey other"}).status_code == 401
    assert httpx.get(view, headers={"Authorization": "apikey only-this"}).status_code == 200


def test_the_page_is_plain_html_with_a_key_form(emulator: Emulator) -> None:
    answer = httpx.get(f"{emulator.url}/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert 'id="key"' in answer.text and "sessionStorage" in answer.text
