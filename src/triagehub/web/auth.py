"""How the dashboard knows who is looking, and lets them write.

The dashboard has no credential of its own: every write is made with an API token
(``triagehub token create --name NAME --scope write``), and is recorded on the timeline as
``token:NAME``, as through the REST API.

- **Sign in** (``/login``): a person pastes a token once. The server checks it against the store
  and sets a session cookie (``HttpOnly``; ``SameSite=Lax``: another site may link to a page, but
  its forms post without the cookie; ``Secure`` over HTTPS; 12 hours) that names the token's id,
  signed with HMAC-SHA256. The key is
  ``$TRIAGEHUB_DASHBOARD_SECRET`` when set (several processes behind one address must share
  it), else random per process (a restart signs everybody out). The token itself is never kept by
  the server, and every request checks that the token is still active: revoking it signs the
  session out at once. Signing out ends the session on the server too (its cookie's nonce is
  kept in ``dashboard_logouts`` until it would have expired), so a copied cookie dies with it.
- **Writes from JavaScript** go to the REST API (``PATCH /api/v1/issues/{id}``) with
  ``Authorization: Bearer``: the sign-in page's script keeps the token in the tab's
  ``sessionStorage`` (gone when the tab closes). A header is never sent by a cross-site form, so
  these writes need no CSRF defence; pages are served with a strict Content Security Policy (no
  inline script) and autoescaped templates, so that no text from the store can run as script.
- **Writes without JavaScript** are plain HTML forms posted to the dashboard's own routes, which
  need the session cookie of a ``write`` token *and* a CSRF token (an HMAC of the session, in a
  hidden field), and refuse a request whose ``Origin`` is another site.
- **Reads** are open, like the API's, unless ``api.require_token_for_reads`` is set: then every
  page needs a signed-in session (any scope).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.clock import Clock
from triagehub.config import ApiConfig
from triagehub.store import queries

COOKIE = "triagehub_dashboard"
SECRET_ENV = "TRIAGEHUB_DASHBOARD_SECRET"
SESSION_SECONDS = 12 * 3600
MAX_TOKEN_CHARS = 200


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in person: the token they signed in with, and their session's CSRF token."""

    token_id: int
    name: str
    scope: str
    csrf: str

    @property
    def can_write(self) -> bool:
        return self.scope == "write"

    @property
    def actor(self) -> str:
        return f"token:{self.name}"


class DashboardAuth:
    def __init__(
        self, engine: Engine, config: ApiConfig, clock: Clock, *, key: bytes | None = None
    ) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        env = os.environ.get(SECRET_ENV, "")
        self.key = key or (env.encode() if env else secrets.token_bytes(32))

    @property
    def reads_need_sign_in(self) -> bool:
        return self.config.require_token_for_reads

    def _sign(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()

    def sign_in(self, raw: str) -> tuple[str, Viewer] | None:
        """The cookie value and viewer for a token (None: unknown, revoked or malformed)."""
        raw = raw.strip()
        if not raw or len(raw) > MAX_TOKEN_CHARS or not raw.isascii():
            return None
        with Session(self.engine) as session, session.begin():
            token = queries.authenticate_token(session=session, raw=raw, now=self.clock.now())
        if token is None:
            return None
        expires = int(self.clock.now().timestamp()) + SESSION_SECONDS
        payload = f"v1.{token.id}.{expires}.{secrets.token_hex(8)}"
        cookie = f"{payload}.{self._sign(payload)}"
        return cookie, Viewer(token.id, token.name, token.scope, self._csrf(cookie))

    def _csrf(self, cookie: str) -> str:
        return self._sign("csrf|" + cookie)

    def _session(self, cookie: str) -> tuple[int, int, str] | None:
        """(token id, expiry epoch, nonce) of a genuine, unexpired cookie."""
        if not cookie or len(cookie) > 300:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        parts = payload.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit() or not parts[2].isdigit():
            return None
        if int(parts[2]) < self.clock.now().timestamp():
            return None
        return int(parts[1]), int(parts[2]), parts[3]

    def sign_out(self, request: Request) -> None:
        """End the request's session for good: its cookie is refused from now on, by every
        process sharing the database, even if a copy of it is replayed."""
        found = self._session(request.cookies.get(COOKIE, ""))
        if found is None:
            return
        _, expires, nonce = found
        with Session(self.engine) as session, session.begin():
            queries.end_dashboard_session(
                session=session,
                nonce=nonce,
                expires_at=datetime.fromtimestamp(expires, UTC),
                now=self.clock.now(),
            )

    def viewer(self, request: Request) -> Viewer | None:
        """Who the session cookie names, when it is genuine, unexpired, not signed out and its
        token active."""
        cookie = request.cookies.get(COOKIE, "")
        found = self._session(cookie)
        if found is None:
            return None
        token_id, _, nonce = found
        with Session(self.engine) as session:
            if queries.dashboard_session_ended(session=session, nonce=nonce):
                return None
            active = queries.list_api_tokens(session=session, include_revoked=False)
        token = next((t for t in active if t.id == token_id), None)
        if token is None:
            return None
        return Viewer(token.id, token.name, token.scope, self._csrf(cookie))

    @staticmethod
    def csrf_ok(viewer: Viewer, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), viewer.csrf.encode())


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (``Origin``,
    ``Sec-Fetch-Site``); requests that say nothing (old browsers, curl) pass."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (no open redirect), else ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    return target
