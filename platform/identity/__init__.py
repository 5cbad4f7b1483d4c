"""Identity: users, memberships, passwords, sessions and sign-in."""
