"""Storage: the schema, the database handle and migrations."""

from shoal.store.db import Database
from shoal.store.migrate import migrate
from shoal.store.tables import Base, iso, utcnow

__all__ = ["Base", "Database", "iso", "migrate", "utcnow"]
