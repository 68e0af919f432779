"""A storage URL checked before any worker starts: its form and its database driver.

The storage need not be up when a session starts (the mirror waits for it), but a URL
SQLAlchemy cannot read, or whose driver is not installed, never works: it is refused in
one line. The URL itself is never repeated, as it may hold a password.
"""

from __future__ import annotations

import sqlalchemy.engine
import sqlalchemy.exc

__all__ = ["url_problem"]


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as an Optuna RDB storage, or None."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:  # (an ArgumentError too: caught first)
        return "no database of that name (sqlite, postgresql, mysql)"
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return "not a database URL (sqlite:///FILE, postgresql://..., mysql+pymysql://...)"
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return "a SQLite database in memory: gone when tuneop exits (sqlite:///FILE)"
    try:
        dialect.import_dbapi()
    except ImportError:
        return (
            "the database driver this URL needs is not installed"
            " (psycopg2 for postgresql://, PyMySQL for mysql+pymysql://)"
        )
    return None
