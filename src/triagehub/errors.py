"""The one error hierarchy of triagehub (see CONVENTIONS.md)."""

from __future__ import annotations


class TriagehubError(Exception):
    """Base of every error triagehub raises on purpose."""


class InputError(TriagehubError):
    """Bad input from outside: a file, a payload, a command-line value.

    ``source`` names where it came from (a file path, ``"request body"``), ``location`` the place
    inside it (a JSON path such as ``results[3].status``, a line number), ``reason`` what was wrong
    and what was expected.
    """

    def __init__(self, source: str, location: str, reason: str) -> None:
        self.source = source
        self.location = location
        self.reason = reason
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {reason}")


class ConfigError(TriagehubError):
    """An invalid configuration file or value."""

    def __init__(self, file: str, key_path: str, reason: str) -> None:
        self.file = file
        self.key_path = key_path
        self.reason = reason
        where = f"{file}: {key_path}" if key_path else file
        super().__init__(f"{where}: {reason}")


class ExternalServiceError(TriagehubError):
    """A service outside triagehub (GitHub, dbt Cloud, an LLM) failed or refused."""

    def __init__(
        self, service: str, status: int | None, reason: str, retry_after: float | None = None
    ) -> None:
        self.service = service
        self.status = status
        self.retry_after = retry_after
        self.reason = reason
        said = f"answered HTTP {status}" if status is not None else "could not be reached"
        super().__init__(f"{service} {said}: {reason}")
