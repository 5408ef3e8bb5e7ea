"""Protocols as data: the definition loader and validator, and the generic engine (no Flask)."""

from .definition import WorkflowDefinition, load_definition
from .engine import Actor, Engine, Option
from .errors import DefinitionError, TransitionRefused
from .predicates import CaseFacts, FormFacts
from .text import Text

__all__ = [
    "Actor", "CaseFacts", "DefinitionError", "Engine", "FormFacts", "Option", "Text",
    "TransitionRefused", "WorkflowDefinition", "load_definition",
]
