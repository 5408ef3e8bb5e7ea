"""Domain exceptions of case services, named for the failure; none carries personal data."""

from __future__ import annotations

from ..workflow import Text


class CaseError(Exception):
    """Base class; `message` is what a user may read."""

    message = Text("No se pudo completar la acción.", "The action could not be completed.")

    def __init__(self, message: Text | None = None):
        super().__init__((message or self.message).en or (message or self.message).es)
        if message is not None:
            self.message = message


class CaseNotFound(CaseError):
    message = Text("No existe un caso con esa referencia.", "There is no case with that reference.")


class AccessDenied(CaseError):
    message = Text(
        "Su nodo no tiene relación con este caso, o su rol no permite verlo.",
        "Your node has no relation to this case, or your role may not see it.",
    )


class StaleCase(CaseError):
    message = Text(
        "El caso cambió desde que abrió la página (otra persona actuó, o el botón se presionó dos veces). "
        "No se aplicó nada: revise el estado actual.",
        "The case changed since you opened the page (someone else acted, or the button was pressed twice). "
        "Nothing was applied: check the current state.",
    )


class InvalidInput(CaseError):
    """Values that do not pass the form's rules; `errors` maps field keys to messages."""

    message = Text("Revise los campos marcados.", "Check the fields marked.")

    def __init__(self, errors: dict[str, list[Text]]):
        super().__init__()
        self.errors = errors


class DuplicateSubmission(CaseError):
    """The same Ficha was sent twice (a double click); `reference` names the case it created."""

    message = Text("Esta Ficha ya fue enviada.", "This form was already submitted.")

    def __init__(self, reference: str):
        super().__init__()
        self.reference = reference
