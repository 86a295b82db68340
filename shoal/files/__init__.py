"""Where uploaded files live: one small storage interface (`FileStore`), a local store under
the data directory, and signed short-lived links to read a file without a session."""

from shoal.files.links import LinkSigner, with_signed_links
from shoal.files.store import FileStore, LocalFileStore

__all__ = ["FileStore", "LinkSigner", "LocalFileStore", "with_signed_links"]
