"""API keys: format and checksum, hashing, permissions, lifecycle, verification."""
