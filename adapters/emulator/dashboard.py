"""The dashboard: ``GET /`` shows a caller's sessions and jobs, as the providers' own pages do.

Like IBM Quantum's Workloads page and Azure Quantum's Job management blade, it lists, for one
API key, the sessions (status, backend or target, times, and a timeline strip of each
session's states and jobs) and the jobs (status, backend, session, times). The key is entered
once and kept in the browser tab's ``sessionStorage`` (as a provider page keeps a login); the
page sends it with each refresh and the server checks it exactly as it checks the SDK
clients' keys (``Tenancy``), so a key sees only its own tenants: the IBM instance and the Azure
workspace named on the page (the SDK helpers' defaults unless changed).

The HTML is rendered here, on the server; a small script fetches ``/dashboard/v1/view`` every
second and swaps it in. No build step, no assets.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse
from qsession.adapters.local.timeline import JOB_COLOURS, STATE_COLOURS
from qsession.core.records import JobState

from . import azure, ibm
from .auth import Tenancy, Unauthorized
from .clients import AZURE_RESOURCE_GROUP, AZURE_SUBSCRIPTION, AZURE_WORKSPACE, IBM_INSTANCE
from .cloud import AZURE, IBM, Cloud, CloudJob, CloudSession
from .errors import ApiError

router = APIRouter(include_in_schema=False)

#: How often the page refreshes, in milliseconds.
REFRESH_MS = 1000
#: Each provider's section title, job statuses as its service reports them, and the state a
#: session opens in (the core records the later ones in ``timestamps``).
PROVIDERS = {
    IBM: ("IBM Qiskit Runtime", ibm.JOB_STATUS, "open"),
    AZURE: ("Azure Quantum", azure.JOB_STATUS, "Waiting"),
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qsession emulator: sessions and jobs</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3em .7em; text-align: left; }}
th {{ background: #f3f3f3; }} code {{ font-size: 12px; }}
.status {{ font-weight: 600; }} #error {{ color: #b00; }} form input {{ width: 22em; }}
</style></head><body>
<h1>qsession emulator</h1>
<form id="login">
<label>API key <input id="key" type="password" autocomplete="off" required></label>
<label>IBM instance <input id="instance" value="{instance}"></label>
<label>Azure workspace <input id="workspace" value="{workspace}"></label>
<button type="submit">Show my sessions</button>
</form>
<p id="error"></p>
<div id="view"><p>Enter the API key your SDK clients use.</p></div>
<script>
const form = document.getElementById("login"), fields = ["key", "instance", "workspace"];
for (const f of fields) {{
  const kept = sessionStorage.getItem("qsession-" + f);
  if (kept) document.getElementById(f).value = kept;
}}
async function refresh() {{
  const key = sessionStorage.getItem("qsession-key");
  if (!key) return;
  const query = new URLSearchParams({{
    instance: sessionStorage.getItem("qsession-instance") || "",
    workspace: sessionStorage.getItem("qsession-workspace") || "",
  }});
  try {{
    const answer = await fetch("/dashboard/v1/view?" + query, {{
      headers: {{"Authorization": "apikey " + key}},
    }});
    const text = await answer.text();
    if (answer.ok) {{
      document.getElementById("view").innerHTML = text;
      document.getElementById("error").textContent = "";
    }} else {{
      let message = text;
      try {{ message = JSON.parse(text).error.message; }} catch (err) {{}}
      document.getElementById("error").textContent = message;
    }}
  }} catch (err) {{
    document.getElementById("error").textContent = "the emulator does not answer: " + err;
  }}
}}
form.addEventListener("submit", (event) => {{
  event.preventDefault();
  for (const f of fields) sessionStorage.setItem("qsession-" + f, document.getElementById(f).value);
  refresh();
}});
refresh();
setInterval(refresh, {refresh_ms});
</script></body></html>
"""


@router.get("/", response_class=HTMLResponse)
def page() -> str:
    """The dashboard page: a key form and the live view."""
    workspace = f"{AZURE_SUBSCRIPTION}/{AZURE_RESOURCE_GROUP}/{AZURE_WORKSPACE}"
    return PAGE.format(
        instance=html.escape(IBM_INSTANCE),
        workspace=html.escape(workspace),
        refresh_ms=REFRESH_MS,
    )


def _tenants(
    tenancy: Tenancy, authorization: str | None, instance: str, workspace: str
) -> dict[str, str]:
    """The caller's IBM and Azure tenants, checked as the SDK clients' requests are."""
    scheme, _, key = (authorization or "").partition(" ")
    parts = (
        tuple(workspace.split("/"))
        if workspace
        else (
            AZURE_SUBSCRIPTION,
            AZURE_RESOURCE_GROUP,
            AZURE_WORKSPACE,
        )
    )
    if scheme.lower() != "apikey" or len(parts) != 3:
        raise ApiError(
            401, "Unauthorized", "send Authorization: apikey <key>; workspace is sub/group/name"
        )
    try:
        return {
            IBM: tenancy.ibm_tenant(f"apikey {key}", instance or IBM_INSTANCE),
            AZURE: tenancy.azure_tenant(key, (parts[0], parts[1], parts[2])),
        }
    except Unauthorized as exc:
        raise ApiError(401, "Unauthorized", str(exc)) from None


@router.get("/dashboard/v1/view", response_class=HTMLResponse)
def view(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    instance: Annotated[str, Query(max_length=500)] = "",
    workspace: Annotated[str, Query(max_length=500)] = "",
) -> str:
    """The caller's sessions and jobs as HTML, for the page to swap in."""
    cloud: Cloud = request.app.state.cloud
    tenants = _tenants(request.app.state.tenancy, authorization, instance, workspace)
    now = cloud.clock.now()
    parts = [f'<p id="now">session time {now:.1f} s ({html.escape(cloud.iso(now) or "")})</p>']
    for provider, tenant in tenants.items():
        title, statuses, _ = PROVIDERS[provider]
        sessions = cloud.sessions(tenant, provider)
        jobs = cloud.jobs(tenant, provider)
        parts.append(f"<h2>{title}</h2>")
        parts.append(_sessions_table(cloud, provider, sessions, jobs, now))
        parts.append(_jobs_table(cloud, statuses, jobs))
    return "\n".join(parts)


def _cell(value: object) -> str:
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _time(cloud: Cloud, t: float | None) -> str:
    """A time cell: the time of day (UTC), with the full timestamp as its tooltip."""
    stamp = cloud.iso(t, "seconds")
    if stamp is None:
        return "<td></td>"
    return f'<td title="{html.escape(stamp)}">{html.escape(stamp[11:19])}</td>'


def _sessions_table(
    cloud: Cloud,
    provider: str,
    sessions: list[CloudSession],
    jobs: list[CloudJob],
    now: float,
) -> str:
    if not sessions:
        return f'<p class="empty" data-provider="{provider}">No sessions yet.</p>'
    rows = []
    for session in sorted(sessions, key=lambda s: s.opened_at, reverse=True):
        core = session.core
        mine = [j for j in jobs if j.session_id == session.id]
        record = core.snapshot()
        rows.append(
            f'<tr class="session" data-id="{html.escape(session.id)}">'
            f"{_cell(session.id)}{_cell(session.backend)}"
            f'<td class="status">{html.escape(core.status)}</td>'
            f"{_time(cloud, session.opened_at)}{_time(cloud, record.closed_at)}{_cell(len(mine))}"
            f"<td>{_strip(session, mine, now)}</td></tr>"
        )
    header = "<tr><th>session</th><th>backend</th><th>status</th><th>opened (UTC)</th>"
    header += "<th>ended</th><th>jobs</th><th>timeline (opened to now)</th></tr>"
    return f'<table class="sessions" data-provider="{provider}">{header}{"".join(rows)}</table>'


def _jobs_table(cloud: Cloud, statuses: dict[JobState, str], jobs: list[CloudJob]) -> str:
    if not jobs:
        return "<p>No jobs yet.</p>"
    rows = []
    for job in sorted(jobs, key=lambda j: j.submitted_at, reverse=True):
        rows.append(
            f'<tr class="job" data-id="{html.escape(job.id)}">{_cell(job.id)}'
            f"{_cell(job.session_id or '-')}{_cell(job.backend)}"
            f'<td class="status">{html.escape(statuses[job.state])}</td>'
            f"{_time(cloud, job.submitted_at)}{_time(cloud, job.started_at)}"
            f"{_time(cloud, job.ended_at)}{_cell(job.reason)}</tr>"
        )
    header = "<tr><th>job</th><th>session</th><th>backend</th><th>status</th>"
    header += "<th>submitted (UTC)</th><th>started</th><th>ended</th><th>reason</th></tr>"
    return f'<table class="jobs">{header}{"".join(rows)}</table>'


def _strip(session: CloudSession, jobs: list[CloudJob], now: float) -> str:
    """An SVG strip: the session's state bands on top, each job's queue and run below."""
    record = session.core.snapshot()
    start = session.opened_at
    end = max(now, start + 1.0)
    width, band = 320.0, 10.0

    def x(t: float) -> float:
        return round((t - start) / (end - start) * width, 1)

    changes = [(PROVIDERS[session.provider][2], start), *record.timestamps]
    shapes = []
    for (state, at), following in zip(changes, [*changes[1:], None], strict=True):
        stop = end if following is None else following[1]
        shapes.append(
            f'<rect class="state" data-state="{html.escape(state)}" x="{x(at)}" y="0"'
            f' width="{max(x(stop) - x(at), 1.0)}" height="{band}"'
            f' fill="{STATE_COLOURS.get(state, "#bdbdbd")}"><title>{html.escape(state)}'
            f" from {at:.1f} s</title></rect>"
        )
    for row, job in enumerate(sorted(jobs, key=lambda j: j.submitted_at)):
        y = band + 2 + row * 6
        began = job.started_at if job.started_at is not None else job.ended_at or end
        shapes.append(
            f'<rect class="queue" x="{x(job.submitted_at)}" y="{y}"'
            f' width="{max(x(began) - x(job.submitted_at), 1.0)}" height="4" fill="none"'
            f' stroke="{JOB_COLOURS[str(job.state)]}"/>'
        )
        if job.started_at is not None:
            stop = job.ended_at if job.ended_at is not None else end
            shapes.append(
                f'<rect class="run" x="{x(job.started_at)}" y="{y}"'
                f' width="{max(x(stop) - x(job.started_at), 1.0)}" height="4"'
                f' fill="{JOB_COLOURS[str(job.state)]}"/>'
            )
    height = band + 4 + 6 * len(jobs)
    return (
        f'<svg class="timeline" width="{width:g}" height="{height:g}"'
        f' viewBox="0 0 {width:g} {height:g}">{"".join(shapes)}</svg>'
    )
