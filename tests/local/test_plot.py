"""``Timeline.plot()`` draws a session: a real image of the asked size, with a band per state,
each job's queue and run interval, the TTL deadlines and the moments rules fired."""

from __future__ import annotations

import io
import sys

import pytest
from PIL import Image
from qsession.adapters.local import DurationModel, Scheduler, VirtualClock
from qsession.core import policies


def session_that_lapses_and_expires():
    """Two jobs, a 70 s gap (the interactive TTL lapses), two more, then the max TTL."""
    scheduler = Scheduler(VirtualClock())
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=5.0, per_shot=0.0))
    session = scheduler.open_session(policies.ibm_session(backend="qpu", max_time=120), backend)
    session.submit(name="a1")
    session.submit(name="a2").wait()
    scheduler.clock.advance(70)
    session.submit(name="b1")
    session.submit(name="b2").wait()
    scheduler.clock.advance(100)
    return session


def gids(figure) -> list[str]:
    (ax,) = figure.axes
    return [a.get_gid() for a in [*ax.collections, *ax.lines, *ax.texts] if a.get_gid()]


def test_plot_renders_a_png_of_the_asked_size() -> None:
    figure = session_that_lapses_and_expires().timeline().plot(width=8, dpi=50)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50)
    png = buffer.getvalue()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = figure.get_size_inches() * 50
    assert image.size == (round(width), round(height)) and image.size[0] == 400
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20, "the image is blank"


def test_plot_has_a_band_per_state_lasting_as_long_as_the_state() -> None:
    timeline = session_that_lapses_and_expires().timeline()
    (ax,) = timeline.plot().axes
    bands = {c.get_gid(): c for c in ax.collections if c.get_gid().startswith("state:")}
    assert set(bands) == {"state:open", "state:active", "state:inactive", "state:closed"}
    states = timeline.states
    inactive = next(s for s in states if s.state == "inactive")
    back = next(s for s in states if s.at > inactive.at and s.state == "active")
    (path,) = bands["state:inactive"].get_paths()
    xs = path.vertices[:, 0]
    assert (xs.min(), xs.max()) == pytest.approx((inactive.at, back.at))


def test_plot_draws_each_jobs_queue_and_run_interval() -> None:
    timeline = session_that_lapses_and_expires().timeline()
    found = gids(timeline.plot())
    for job in timeline.jobs:
        assert f"queue:{job.job_id}" in found
        assert f"run:{job.job_id}" in found
    (ax,) = timeline.plot().axes
    first = timeline.jobs[0]
    run = next(c for c in ax.collections if c.get_gid() == f"run:{first.job_id}")
    xs = run.get_paths()[0].vertices[:, 0]
    assert (xs.min(), xs.max()) == pytest.approx((first.started_at, first.ended_at))


def test_plot_marks_the_ttl_deadlines_and_the_rules_that_fired() -> None:
    found = gids(session_that_lapses_and_expires().timeline().plot())
    assert "deadline:interactive TTL" in found
    assert "deadline:max TTL" in found
    for rule in ("IBM-START-ON-FIRST-JOB-START", "IBM-ITTL-DEACTIVATE", "IBM-MAXTTL-FROM-START"):
        assert f"rule:{rule}" in found and f"rule-label:{rule}" in found


def test_plot_saves_svg_too(tmp_path) -> None:
    path = tmp_path / "session.svg"
    session_that_lapses_and_expires().timeline().plot(path)
    text = path.read_text()
    assert text.startswith("<?xml") and "<svg" in text


def test_plot_draws_an_azure_session_with_its_idle_timeout() -> None:
    scheduler = Scheduler(VirtualClock())
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=5.0, per_shot=0.0))
    session = scheduler.open_session(policies.azure_session("qpu"), backend)
    session.submit().wait()
    scheduler.clock.advance(700)
    found = gids(session.timeline().plot())
    assert {"state:Waiting", "state:Executing", "state:TimedOut"} <= set(found)
    assert "deadline:idle timeout" in found and "rule:AZ-TIMEOUT-10MIN" in found


def test_without_matplotlib_plot_says_which_extra_to_install(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "qsession.adapters.local.plot", raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    timeline = session_that_lapses_and_expires().timeline()
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'qsession\[plot\]'"):
        timeline.plot()
