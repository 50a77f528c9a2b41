"""Named students and model payloads (hub ids for connected users, offline wheels here)."""
