"""IBM-SIMULATOR-NO-SESSION against the real qiskit-ibm-runtime client."""

import pytest
from qiskit_ibm_runtime import Batch, Session
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from qsession.adapters.ibm import track
from qsession.spec.policy_properties import check_simulator_session


@pytest.mark.parametrize("kind", [Session, Batch])
def test_a_session_on_a_local_backend_has_no_server_session(kind):
    session = kind(backend=FakeManilaV2(), max_time="10m")
    assert check_simulator_session(session) == []
    session.close()
    assert check_simulator_session(session) == []


def test_a_tracked_local_session_still_has_no_server_session_id():
    tracked = track(Session(backend=FakeManilaV2()), enforce=True)
    assert tracked.session_id is None
    assert tracked.remaining() is None
