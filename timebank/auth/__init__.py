"""People who sign in: accounts, role grants with scopes, sessions and API tokens."""
