"""Keys in the database: node key pairs, per-node wraps of case keys, rotation and the blind-index key."""
