"""The Plan de Acción Nacional contra la Trata de Personas: loaded as data, edited by the Mesa's Secretaría
Técnica, its progress reported by each institution's focal point (docs/plan_accion.md)."""
