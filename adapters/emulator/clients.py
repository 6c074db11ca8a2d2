"""Ready client objects of the real SDKs, pointed at an emulator (reference sections 3).

IBM: qiskit-ibm-runtime needs three settings besides ``url``: the ``IAM_URL`` environment
variable (its IAM host is otherwise hard-coded), ``QISKIT_FUNCTIONS_EXPERIMENTAL`` (skips the
IBM Cloud instance search) and a ``url_resolver`` that keeps the URL (the default one rewrites
the host to ``quantum.<host>`` and drops the port). Azure: a ``Workspace`` with every
coordinate given (so it makes no management calls), an API key, and the private
``_quantum_endpoint`` argument (connection strings only accept ``https://*.azure.com``).
"""

from __future__ import annotations

import os

from azure.core.credentials import AzureKeyCredential
from azure.quantum import Workspace
from qiskit_ibm_runtime import QiskitRuntimeService

#: The IBM instance CRN the helpers use unless told otherwise.
IBM_INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/qsession:emulator::"
#: The Azure workspace coordinates the helpers use unless told otherwise.
AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
AZURE_RESOURCE_GROUP = "qsession"
AZURE_WORKSPACE = "emulator"
AZURE_LOCATION = "eastus"


def keep_url(url: str, *args: object) -> str:
    """``url_resolver`` for qiskit-ibm-runtime: the emulator serves ``{url}/api/v1``."""
    return url.rstrip("/") + "/api/v1"


def ibm_service(
    url: str, *, token: str = "qsession", instance: str = IBM_INSTANCE
) -> QiskitRuntimeService:
    """A ``QiskitRuntimeService`` talking to the emulator at ``url``.

    Sets ``IAM_URL`` and ``QISKIT_FUNCTIONS_EXPERIMENTAL`` in ``os.environ`` (the client reads
    them there); ``token`` is the API key and ``instance`` the CRN, which together name the
    tenant.
    """
    os.environ["IAM_URL"] = url.rstrip("/")
    os.environ["QISKIT_FUNCTIONS_EXPERIMENTAL"] = "1"
    return QiskitRuntimeService(
        channel="ibm_quantum_platform",
        token=token,
        instance=instance,
        url=url.rstrip("/"),
        url_resolver=keep_url,
    )


def azure_workspace(
    url: str,
    *,
    api_key: str = "qsession",
    subscription_id: str = AZURE_SUBSCRIPTION,
    resource_group: str = AZURE_RESOURCE_GROUP,
    name: str = AZURE_WORKSPACE,
    location: str = AZURE_LOCATION,
    api_version: str | None = None,
) -> Workspace:
    """An ``azure.quantum.Workspace`` talking to the emulator at ``url``; the key and the
    workspace coordinates together name the tenant. ``api_version`` overrides the client's
    default REST API version (azure-quantum 3.13: ``2026-01-15-preview``)."""
    extra = {} if api_version is None else {"api_version": api_version}
    return Workspace(
        subscription_id=subscription_id,
        resource_group=resource_group,
        name=name,
        location=location,
        credential=AzureKeyCredential(api_key),
        _quantum_endpoint=url.rstrip("/") + "/",
        **extra,
    )
