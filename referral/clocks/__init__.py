"""The Protocol's clocks in the database, and the notifications they send (see docs/clocks.md)."""
