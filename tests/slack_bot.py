"""A Slack Web API receiver wired into the environment, for the tests whose notifications go to
Slack (on-call, category actions): ``clear_slack_env`` removes any Slack setting the machine has,
``slack_bot`` starts a receiver (``outbox_receiver.Receiver``) and points triagehub at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outbox_receiver import Receiver

TOKEN = "xoxb-2718281828-3141592653-TeStToKeNnOtReAl0123"
SLACK_ENV = ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "TRIAGEHUB_SLACK_API_URL")


def clear_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SLACK_ENV:
        monkeypatch.delenv(name, raising=False)


def slack_bot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A bot token and channel whose Web API is a local receiver (for a fixture to yield from)."""
    with Receiver(token=TOKEN) as receiver:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_CHANNEL", "#triage")
        monkeypatch.setenv("TRIAGEHUB_SLACK_API_URL", f"{receiver.url}/api")
        yield receiver
