"""qsession.adapters.emulator: a local cloud the unmodified IBM and Azure clients talk to.

``qsession serve`` (``serve.main``) runs it; ``create_app`` builds the ASGI app over a
``Store`` and a ``ServerClock``; ``ibm_service(url)`` and ``azure_workspace(url)`` return the
real clients' objects, already pointed at it.
"""

from .app import create_app
from .clients import azure_workspace, ibm_service
from .clock import ServerClock
from .store import SQLiteStore, Store, open_store

__all__ = [
    "SQLiteStore",
    "ServerClock",
    "Store",
    "azure_workspace",
    "create_app",
    "ibm_service",
    "open_store",
]
