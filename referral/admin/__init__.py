"""Administration pages (erasure of cases); administrators never read a case."""
