"""API keys, tenants, IAM tokens, the admin key, storage signatures, and log redaction.

Every request carries an API key: IBM clients trade theirs for a JWT at the IAM endpoint and
send ``Authorization: Bearer <jwt>`` with ``Service-CRN: <instance>``; Azure clients send
``x-ms-quantum-api-key`` on every call. A tenant is the key together with the IBM instance or
the Azure workspace (subscription, resource group, name), so one key's instances are separate
tenants and no tenant can see or change another's sessions, jobs or blobs. A token carries
``sub`` (a hash of its key), ``iat``, ``exp`` and ``iss``; all are required, and a token whose
key this server no longer accepts is refused.

The admin routes (the emulator's clock) are no tenant's: they take the admin key, in the
``x-qsession-admin-key`` header, and a server started without one has no admin routes.

Storage signatures are Azure service SAS (https://learn.microsoft.com/rest/api/storageservices/
create-service-sas): HMAC-SHA256, under a per-account key derived from the server's secret,
over the fields the service signs for versions 2020-12-06 and later (permissions, start,
expiry, canonical resource, identifier, IP, protocol, version, resource type, snapshot time,
encryption scope and the five response-header overrides). Verification enforces expiry, start,
protocol, IP range, permissions and scope (``sr=c``: the container; ``sr=b``: one blob).

Keys themselves are never stored: tenants are named by a hash of key and scope. The signing
secret lives outside the database (``Store.secret()``), so tokens and SAS URLs stay valid
across a restart. ``redact`` removes signatures, tokens and keys from text bound for a log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import re
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

import jwt

from .store import Store

#: Storage account names ``Tenancy.storage_account`` hands out.
ACCOUNT_PATTERN = "qs[0-9a-f]{22}"
#: Lifetime of an IAM access token, in real seconds.
TOKEN_LIFETIME = 3600
#: Header that carries the admin key.
ADMIN_HEADER = "x-qsession-admin-key"
#: The storage service version of the SAS the emulator issues.
SAS_VERSION = "2023-11-03"
#: The oldest SAS version verified (earlier versions sign other fields).
SAS_MIN_VERSION = "2020-12-06"
#: Lifetime of a SAS the emulator issues, in real seconds (azure-quantum renews a SAS that has
#: less than five minutes left before it uses it).
SAS_LIFETIME = 3600
#: The signed fields after the canonical resource, in order (then the header overrides).
_SIGNED_AFTER_RESOURCE = (
    *("si", "sip", "spr", "sv", "sr", "snapshot", "ses"),
    *("rscc", "rscd", "rsce", "rscl", "rsct"),
)
_SAS_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(?::(\d{2})(?:\.\d+)?)?Z)?$")


class Unauthorized(Exception):
    """No API key, an unknown key, or a token that does not verify."""


class Forbidden(Exception):
    """A credential that does not allow this request: ``code`` is the service's error code."""

    def __init__(self, message: str, code: str = "Forbidden") -> None:
        super().__init__(message)
        self.code = code


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _sas_time(name: str, value: str) -> float:
    match = _SAS_TIME.match(value)
    if match is None:
        raise Forbidden(
            f"Signed {name} {value!r} is not an ISO 8601 UTC time (YYYY-MM-DDThh:mm:ssZ).",
            "AuthenticationFailed",
        )
    day, minutes, seconds = match.groups()
    text = f"{day}T{minutes or '00:00'}:{seconds or '00'}+00:00"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise Forbidden(
            f"Signed {name} {value!r} is not a valid time.", "AuthenticationFailed"
        ) from None


def sas_time(t: float) -> str:
    """Unix time ``t`` as a SAS writes it (``YYYY-MM-DDThh:mm:ssZ``)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def string_to_sign(account: str, container: str, blob: str | None, q: Mapping[str, str]) -> str:
    """The service SAS string-to-sign (versions 2020-12-06 and later) for the query ``q``."""
    resource = f"/blob/{account}/{container}" + (f"/{blob}" if q.get("sr") == "b" else "")
    before = [q.get(name, "") for name in ("sp", "st", "se")]
    after = [q.get(name, "") for name in _SIGNED_AFTER_RESOURCE]
    return "\n".join([*before, resource, *after])


class Tenancy:
    """Turns credentials into tenants; ``api_keys=None`` accepts any non-empty key."""

    def __init__(
        self,
        store: Store,
        api_keys: Collection[str] | None = None,
        *,
        admin_key: str | None = None,
    ) -> None:
        self._secret = store.secret()
        self._keys = None if api_keys is None else frozenset(api_keys)
        self._key_ids = None if api_keys is None else {_digest("key", k) for k in api_keys}
        if admin_key is not None and not admin_key:
            raise ValueError("the admin key must not be empty")
        self._admin = None if admin_key is None else admin_key.encode()

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
                claims = jwt.decode(
                    credential,
                    self._secret,
                    algorithms=["HS256"],
                    issuer="qsession",
                    options={"require": ["sub", "iat", "exp", "iss"]},
                )
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"the access token is not valid: {exc}") from None
            key_id = str(claims["sub"])
            if self._key_ids is not None and key_id not in self._key_ids:
                raise Unauthorized(
                    "the access token was issued for an API key this emulator no longer"
                    " accepts; get a token for an accepted key"
                )
        elif scheme.lower() == "apikey":
            key_id = self._key_id(credential)
        else:
            raise Unauthorized("send Authorization: Bearer <IAM token> (or apikey <key>)")
        return "ibm-" + _digest(key_id, crn or "")[:32]

    def azure_tenant(self, api_key: str | None, workspace: tuple[str, str, str]) -> str:
        """The Azure tenant of an ``x-ms-quantum-api-key`` and a workspace path."""
        return "azure-" + _digest(self._key_id(api_key or ""), *workspace)[:32]

    def check_admin(self, credential: str | None) -> None:
        """``Forbidden`` unless ``credential`` is this server's admin key."""
        if self._admin is None:
            raise Forbidden(
                "this emulator has no admin key: start it with --admin-key KEY (or set"
                " QSESSION_ADMIN_KEY) to use the admin routes"
            )
        if credential is None or not hmac.compare_digest(credential.encode(), self._admin):
            raise Forbidden(f"the admin routes need the admin key in the {ADMIN_HEADER} header")

    @staticmethod
    def storage_account(tenant: str) -> str:
        """The tenant's storage account name (blob URLs are path-style, as Azurite's)."""
        return "qs" + _digest("account", tenant)[:22]

    def account_key(self, account: str) -> str:
        """The storage account's key, base64 as Azure writes account keys."""
        mac = hmac.new(self._secret, f"account-key\x1f{account}".encode(), "sha256")
        return base64.b64encode(mac.digest()).decode()

    def _sign(self, account: str, text: str) -> str:
        key = base64.b64decode(self.account_key(account))
        return base64.b64encode(hmac.new(key, text.encode(), "sha256").digest()).decode()

    def sas(
        self,
        account: str,
        container: str,
        blob: str | None = None,
        *,
        permissions: str,
        expiry: float | None = None,
    ) -> str:
        """A SAS query string for the container (or, with ``blob``, that blob only), valid
        until Unix time ``expiry`` (default: ``SAS_LIFETIME`` from now)."""
        until = time.time() + SAS_LIFETIME if expiry is None else expiry
        query = {
            "sv": SAS_VERSION,
            "se": sas_time(until),
            "sr": "c" if blob is None else "b",
            "sp": permissions,
        }
        query["sig"] = self._sign(account, string_to_sign(account, container, blob, query))
        return urlencode(query)

    def verify_sas(
        self,
        account: str,
        container: str,
        blob: str | None,
        query: Mapping[str, str],
        *,
        allowed: str,
        now: float,
        https: bool,
        client: str | None,
    ) -> None:
        """``Forbidden`` (with the Storage error code) unless ``query`` is a SAS this server
        signed for this resource that is valid at ``now`` and grants one of ``allowed``."""
        sig = query.get("sig")
        if not sig:
            raise Forbidden(
                "Server failed to authenticate the request: the SAS signature is missing.",
                "AuthenticationFailed",
            )
        version = query.get("sv", "")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version) or version < SAS_MIN_VERSION:
            raise Forbidden(
                f"The signed version {version!r} is not supported: use {SAS_MIN_VERSION} or later.",
                "AuthenticationFailed",
            )
        kind = query.get("sr")
        if kind not in ("b", "c") or (kind == "b" and blob is None):
            raise Forbidden(
                "This request is not authorized to perform this operation using this resource"
                f" type (sr={kind!r}).",
                "AuthorizationResourceTypeMismatch",
            )
        expected = self._sign(account, string_to_sign(account, container, blob, query))
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            raise Forbidden(
                "Server failed to authenticate the request: the signature does not match"
                " (it covers sp, st, se, the resource, sip, spr, sv, sr and the overrides).",
                "AuthenticationFailed",
            )
        if query.get("si"):
            raise Forbidden(
                "Stored access policies (si) are not supported by this emulator.",
                "AuthenticationFailed",
            )
        start = _sas_time("start", query["st"]) if query.get("st") else None
        expiry = _sas_time("expiry", query.get("se", ""))
        if not (start is None or start <= now) or now >= expiry:
            raise Forbidden(
                "Signature not valid in the specified time frame: Start"
                f" [{query.get('st', '')}] - Expiry [{query['se']}] - Current [{sas_time(now)}]",
                "AuthenticationFailed",
            )
        if query.get("spr", "https,http") not in ("https,http", "http,https") and not https:
            raise Forbidden(
                "This request is not authorized to perform this operation using this protocol.",
                "AuthorizationProtocolMismatch",
            )
        if query.get("sip") and not _in_range(client, query["sip"]):
            raise Forbidden(
                "This request is not authorized to perform this operation using this source IP"
                f" {client}.",
                "AuthorizationSourceIPMismatch",
            )
        if not set(query.get("sp", "")) & set(allowed):
            raise Forbidden(
                "This request is not authorized to perform this operation using this"
                f" permission (needs one of {allowed!r}; the SAS grants {query.get('sp', '')!r}).",
                "AuthorizationPermissionMismatch",
            )


def _in_range(client: str | None, spec: str) -> bool:
    try:
        address = ipaddress.ip_address(client or "")
        low, _, high = spec.partition("-")
        return ipaddress.ip_address(low) <= address <= ipaddress.ip_address(high or low)
    except (ValueError, TypeError):
        return False


_REDACTIONS = (
    (re.compile(r"(\bsig(?:=|%3[Dd]))[^&\s\"'<>]+"), r"\1REDACTED"),
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), "REDACTED"),
    (re.compile(r"(\b(?:bearer|apikey)\s+)[^\s\"',]+", re.IGNORECASE), r"\1REDACTED"),
    (re.compile(r"(\bapikey(?:=|%3[Dd]))[^&\s\"'<>]+", re.IGNORECASE), r"\1REDACTED"),
    # header values, as ``name: value`` or as the ``(b'name', b'value')`` of an ASGI scope
    (
        re.compile(
            r"((?:authorization|x-ms-quantum-api-key|x-qsession-admin-key)"
            r"(?:['\"],\s*b?['\"]|:\s*))[^'\"\r\n]+",
            re.IGNORECASE,
        ),
        r"\1REDACTED",
    ),
)


def redact(text: str) -> str:
    """``text`` with SAS signatures, JWTs and API keys replaced by ``REDACTED``."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(arg: object) -> object:
    """A log argument with its secrets redacted (numbers as they are, anything else as text:
    uvicorn's trace log passes ASGI scopes and messages)."""
    if isinstance(arg, int | float):
        return arg
    return redact(arg if isinstance(arg, str) else str(arg))


class RedactSecrets(logging.Filter):
    """A logging filter that redacts every record's message, arguments and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _redacted(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
