"""API keys, tenants, IAM tokens and storage signatures.

Every request carries an API key: IBM clients trade theirs for a JWT at the IAM endpoint and
send ``Authorization: Bearer <jwt>`` with ``Service-CRN: <instance>``; Azure clients send
``x-ms-quantum-api-key`` on every call. A tenant is the key together with the IBM instance or
the Azure workspace (subscription, resource group, name), so one key's instances are separate
tenants and no tenant can see or change another's sessions, jobs or blobs.

Keys themselves are never stored: tenants are named by a hash of key and scope. The signing
secret lives in the store, so tokens and SAS URLs stay valid across a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Collection

import jwt

from .store import Store

#: Storage account names ``Tenancy.storage_account`` hands out.
ACCOUNT_PATTERN = "qs[0-9a-f]{22}"
#: Lifetime of an IAM access token, in real seconds.
TOKEN_LIFETIME = 3600


class Unauthorized(Exception):
    """No API key, an unknown key, or a token that does not verify."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class Tenancy:
    """Turns credentials into tenants; ``api_keys=None`` accepts any non-empty key."""

    def __init__(self, store: Store, api_keys: Collection[str] | None = None) -> None:
        secret = store.get_meta("secret")
        if secret is None:
            secret = secrets.token_hex(32)
            store.set_meta("secret", secret)
        self._secret = secret
        self._keys = None if api_keys is None else frozenset(api_keys)

    def _key_id(self, key: str) -> str:
        if not key or (self._keys is not None and key not in self._keys):
            raise Unauthorized("the API key is missing or not accepted by this emulator")
        return _digest("key", key)

    def issue_token(self, api_key: str) -> dict[str, object]:
        """The IAM answer for ``api_key``: a signed JWT with ``iat`` and ``exp``."""
        key_id = self._key_id(api_key)
        now = int(time.time())
        token = jwt.encode(
            {"sub": key_id, "iat": now, "exp": now + TOKEN_LIFETIME, "iss": "qsession"},
            self._secret,
            algorithm="HS256",
        )
        return {
            "access_token": token,
            "refresh_token": "not_supported",
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "expiration": now + TOKEN_LIFETIME,
            "scope": "ibm openid",
        }

    def ibm_tenant(self, authorization: str | None, crn: str | None) -> str:
        """The IBM tenant of a request's ``Authorization`` and ``Service-CRN`` headers."""
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            try:
                claims = jwt.decode(credential, self._secret, algorithms=["HS256"])
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"the access token is not valid: {exc}") from None
            key_id = str(claims.get("sub", ""))
        elif scheme.lower() == "apikey":
            key_id = self._key_id(credential)
        else:
            raise Unauthorized("send Authorization: Bearer <IAM token> (or apikey <key>)")
        return "ibm-" + _digest(key_id, crn or "")[:32]

    def azure_tenant(self, api_key: str | None, workspace: tuple[str, str, str]) -> str:
        """The Azure tenant of an ``x-ms-quantum-api-key`` and a workspace path."""
        return "azure-" + _digest(self._key_id(api_key or ""), *workspace)[:32]

    @staticmethod
    def storage_account(tenant: str) -> str:
        """The tenant's storage account name (blob URLs are path-style, as Azurite's)."""
        return "qs" + _digest("account", tenant)[:22]

    def sas_signature(self, account: str, container: str) -> str:
        """The ``sig`` of a SAS for ``account/container`` (unforgeable without the secret)."""
        mac = hmac.new(self._secret.encode(), f"{account}/{container}".encode(), "sha256")
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def check_sas(self, account: str, container: str, sig: str | None) -> bool:
        return sig is not None and hmac.compare_digest(sig, self.sas_signature(account, container))
