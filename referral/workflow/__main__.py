"""`python -m referral.workflow schema > workflows/schema.json`: print the JSON Schema of a workflow
definition, generated from the models of referral/workflow/schema.py (docs/workflows.md)."""

from __future__ import annotations

import sys

from .schema import main

if __name__ == "__main__":
    if sys.argv[1:] != ["schema"]:
        sys.exit("usage: python -m referral.workflow schema > workflows/schema.json")
    main()
