"""API tokens (hashed, shown once) and signed-out dashboard sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.queries.paging import _iso

# -- API tokens ----------------------------------------------------------------------------------
#
# A token is ``th_`` and 43 random URL-safe characters, shown once when made; the store keeps its
# SHA-256 only, so a leaked database does not leak usable tokens.

TOKEN_SCOPES = ("read", "write")
TOKEN_PREFIX = "th_"
_TOKEN_TOUCH_S = 60  # ``last_used_at`` is written at most once a minute per token


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    name: str
    scope: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "last_used_at", "revoked_at"):
            data[key] = _iso(data[key])
        data["active"] = self.active
        return data


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _token_view(row: Any) -> TokenView:
    return TokenView(
        row.id, row.name, row.scope, row.prefix, row.created_at, row.last_used_at, row.revoked_at
    )


def create_api_token(
    *, session: Session, name: str, scope: str, now: datetime
) -> tuple[TokenView, str]:
    """Make a token; returns it and its secret value (shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InputError("--name", name, "must be 1 to 100 characters")
    if scope not in TOKEN_SCOPES:
        raise InputError("--scope", scope, f"expected one of {', '.join(TOKEN_SCOPES)}")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    pk = session.execute(
        t.api_tokens.insert()
        .values(
            name=name,
            scope=scope,
            token_hash=hash_token(raw),
            prefix=raw[:10],
            created_at=now,
        )
        .returning(t.api_tokens.c.id)
    ).scalar_one()
    return TokenView(int(pk), name, scope, raw[:10], now, None, None), raw


def list_api_tokens(*, session: Session, include_revoked: bool = True) -> list[TokenView]:
    stmt = select(t.api_tokens).order_by(t.api_tokens.c.id)
    if not include_revoked:
        stmt = stmt.where(t.api_tokens.c.revoked_at.is_(None))
    return [_token_view(r) for r in session.execute(stmt)]


def revoke_api_token(*, session: Session, ref: str, now: datetime) -> list[TokenView]:
    """Revoke the active token with this id, or every active token with this name; returns
    what was revoked (an ``InputError`` when nothing matches)."""
    a = t.api_tokens.c
    match = a.id == int(ref) if ref.isdigit() else a.name == ref
    found = [
        _token_view(r)
        for r in session.execute(select(t.api_tokens).where(match, a.revoked_at.is_(None)))
    ]
    if not found:
        raise InputError("token", ref, "no active token with this id or name (see token list)")
    session.execute(
        update(t.api_tokens).where(a.id.in_([v.id for v in found])).values(revoked_at=now)
    )
    return [replace(v, revoked_at=now) for v in found]


def authenticate_token(*, session: Session, raw: str, now: datetime) -> TokenView | None:
    """The active token whose secret is ``raw`` (None: unknown or revoked); notes its use."""
    a = t.api_tokens.c
    row = session.execute(
        select(t.api_tokens).where(a.token_hash == hash_token(raw), a.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    last = row.last_used_at
    if last is None or (now - last).total_seconds() >= _TOKEN_TOUCH_S:
        session.execute(update(t.api_tokens).where(a.id == row.id).values(last_used_at=now))
    return _token_view(row)


# -- dashboard sessions ----------------------------------------------------------------------------


def end_dashboard_session(
    *, session: Session, nonce: str, expires_at: datetime, now: datetime
) -> None:
    """Remember a signed-out session (by its cookie's nonce) until its cookie would expire;
    forget the ones already expired."""
    from triagehub.store.dialect import insert_ignoring

    session.execute(delete(t.dashboard_logouts).where(t.dashboard_logouts.c.expires_at < now))
    session.execute(
        insert_ignoring(session, t.dashboard_logouts, "session_nonce").values(
            session_nonce=nonce[:32], expires_at=expires_at
        )
    )


def dashboard_session_ended(*, session: Session, nonce: str) -> bool:
    found = session.execute(
        select(t.dashboard_logouts.c.session_nonce).where(
            t.dashboard_logouts.c.session_nonce == nonce[:32]
        )
    ).first()
    return found is not None
