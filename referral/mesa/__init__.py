"""The country's national coordination body (its name: the country folder's country.yaml) and the regional Mesas: meetings, minutes, agreements (docs/mesa.md)."""
