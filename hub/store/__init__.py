"""The database of record: every received delivery, every call version, every delivery attempt."""
