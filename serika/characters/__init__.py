"""Characters: personas owned by accounts, shared publicly or kept private, used in chat."""
