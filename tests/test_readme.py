"""Every Python snippet in the README runs as written, so the README cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
#: A fenced Python block: its text, without the fences.
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SNIPPETS = BLOCK.findall(README.read_text())


def snippet_id(code: str) -> str:
    """A test id: the first line that is not an import."""
    body = [
        line for line in code.splitlines() if line and not line.startswith(("from ", "import "))
    ]
    return body[0][:40]


def test_the_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 5


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("code", SNIPPETS, ids=[snippet_id(c) for c in SNIPPETS])
def test_readme_snippet_runs_to_its_end(code: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a snippet that writes a file writes it here
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(code, f"README.md snippet {snippet_id(code)!r}", "exec"), namespace)


def test_the_local_backend_snippet_shows_the_max_ttl_ending_the_run(capsys) -> None:
    (code,) = [c for c in SNIPPETS if 'max_time="25m"' in c and "minimize" in c]
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(code, "README.md local-backend snippet", "exec"), namespace)
    out = capsys.readouterr().out
    assert "the max TTL ended the run: 'The session is closed.'" in out
    timeline = namespace["timeline"]
    assert timeline.states[-1].cause == "max_ttl_reached"  # type: ignore[attr-defined]
    assert "'inactive'" in out and out.rstrip().endswith("max_ttl_reached")
