"""Refinements of :class:`~triagehub.errors.InputError` that interfaces map to HTTP statuses."""

from __future__ import annotations

from triagehub.errors import InputError


class NotFoundError(InputError):
    """The thing named does not exist (HTTP 404)."""


class ConflictError(InputError):
    """The request contradicts the current state (HTTP 409): a change that already exists, an
    issue already linked to another change, a second work item for an agent session."""
