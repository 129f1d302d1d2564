"""The dashboard's page frame: the tabs, the Jinja2 environment and its filters, the static
files and the security headers every page is sent with."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined

from triagehub.core.timeparse import as_utc
from triagehub.web import views
from triagehub.web.filters import Filters

TABS = (
    ("work", "/", "All Work"),
    ("errors", "/errors", "Errors"),
    ("specs", "/specs", "Specs"),
    ("sessions", "/sessions", "Sessions"),
    ("patterns", "/patterns", "Patterns"),
    ("health", "/health", "Health"),
)
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css", "icon.svg": "image/svg+xml"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
DEFAULT_WINDOW = timedelta(days=7)


def label(value: object) -> str:
    return str(value).replace("_", " ") if value is not None else "—"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value is not None else ""


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def hours(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 60:.0f} min"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} d"


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "—"
    seconds = (now - as_utc(value)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = "just now" if not future else "in a minute"
        return text
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = int(seconds // size)
            return f"in {amount} {unit}" if future else f"{amount} {unit} ago"
    return "just now"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("triagehub.web", "templates"),
        autoescape=True,  # every value is escaped: text from the store is never markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(label=label, when=when, iso=iso, pct=pct, hours=hours)
    env.tests["weblink"] = views.is_web_url  # `{% if url is weblink %}`: only http(s) is a link
    return env


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str
    digest: str


def static_files() -> dict[str, StaticFile]:
    folder = resources.files("triagehub.web") / "static"
    found = {}
    for name, media_type in STATIC_FILES.items():
        body = (folder / name).read_bytes()
        found[name] = StaticFile(body, media_type, hashlib.sha256(body).hexdigest()[:12])
    return found


def window(filters: Filters, now: datetime) -> tuple[datetime, datetime, str]:
    """The time range of the figures (default: the last 7 days) and its cache key."""
    until = filters.until_at or now
    since = filters.since_at or until - DEFAULT_WINDOW
    key = f"{filters.since or ''}..{filters.until or ''}"
    return since, until, key
