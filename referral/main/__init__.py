"""Home, the protocol in force, language choice."""
