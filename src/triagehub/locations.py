"""Where triagehub looks for its configuration and its database by default.

Kept apart from :mod:`triagehub.config` (pydantic models) so that a command finds its database
without loading the configuration's validation: ``triagehub issues list`` starts on this module.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "TRIAGEHUB_CONFIG"
DATABASE_ENV = "TRIAGEHUB_DATABASE_URL"
DEFAULT_CONFIG_NAME = "triagehub.yaml"


def config_file(path: Path | None = None) -> Path | None:
    """The configuration file to read: ``path``, else ``$TRIAGEHUB_CONFIG``, else
    ``./triagehub.yaml`` if it exists; None when there is none (the defaults apply)."""
    if path is not None:
        return path
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    if Path(DEFAULT_CONFIG_NAME).is_file():
        return Path(DEFAULT_CONFIG_NAME)
    return None


def _data_dir() -> Path:
    import platformdirs  # (only when no database URL is given)

    data_dir = Path(platformdirs.user_data_dir("triagehub", appauthor=False))
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def default_database_url() -> str:
    """``$TRIAGEHUB_DATABASE_URL``, else a SQLite file under the user data dir."""
    env = os.environ.get(DATABASE_ENV)
    if env:
        return env
    return f"sqlite:///{_data_dir() / 'triagehub.db'}"


def demo_database_url() -> str:
    """The demo's own SQLite file, recreated by every ``triagehub demo``."""
    return f"sqlite:///{_data_dir() / 'demo.db'}"
