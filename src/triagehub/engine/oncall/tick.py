"""The monitor's on-call step: assign, announce, send digests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.engine.oncall.alerts import dispatch_alerts
from triagehub.engine.oncall.common import OncallSummary
from triagehub.engine.oncall.digests import send_digests
from triagehub.engine.oncall.routing import assign_issues


def oncall_tick(session: Session, settings: Settings, now: datetime) -> OncallSummary:
    """The monitor's on-call step: assign, announce what the tick announces, send digests."""
    summary = OncallSummary()
    assign_issues(session, settings, now, summary=summary)
    dispatch_alerts(session, settings, now, summary=summary)
    send_digests(session, settings, now, summary=summary)
    return summary
