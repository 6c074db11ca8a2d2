"""Hypothesis profiles (``dev``: default, random; ``ci``: derandomized, more examples) and a
PostgreSQL server for the tests of the PostgreSQL store."""

import itertools
import os
from collections.abc import Iterator

import attrs
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=300,
    stateful_step_count=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("dev")


@attrs.frozen
class PostgresServer:
    """A PostgreSQL server the tests started: ``new_database()`` makes an empty database and
    returns its URL."""

    admin_url: str
    counter: Iterator[int] = attrs.field(factory=itertools.count, eq=False)

    def new_database(self) -> str:
        from qsession.adapters.emulator import pgserver  # noqa: PLC0415 - postgres extra

        return pgserver.new_database(self.admin_url, f"qsession_{next(self.counter)}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server (``qsession.adapters.emulator.pgserver``). Skips when
    PostgreSQL is not installed, except under CI, where that fails."""
    from qsession.adapters.emulator import pgserver  # noqa: PLC0415 - postgres extra

    try:
        pgserver.bindir()
    except pgserver.PostgresMissing as exc:
        reason = f"{exc}, so the PostgreSQL store tests cannot start a server"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with pgserver.throwaway() as url:
        yield PostgresServer(url)
