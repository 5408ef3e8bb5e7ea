"""The Mesa Intersectorial sobre Trata de Personas and the regional Mesas: meetings, minutes, agreements (docs/mesa.md)."""
