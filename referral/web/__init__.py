"""The web layer: access rules, request context, dynamic forms, error pages."""
