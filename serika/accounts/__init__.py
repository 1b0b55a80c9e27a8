"""Users, passwords, sessions and login throttling."""
