"""A test-client wrapper that behaves like a person at a browser: logs in, opens forms, submits them.

Forms are always fetched first, so every POST carries the real CSRF token and the hidden fields
(case version, intake token) the page gave; nothing is disabled for tests.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from werkzeug.test import TestResponse

DOMAIN = "demo.cl"


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.hidden.setdefault(values["name"] or "", values.get("value") or "")


def hidden_inputs(html: str) -> dict[str, str]:
    parser = _Inputs()
    parser.feed(html)
    return parser.hidden


class Browser:
    def __init__(self, app: Any, password: str):
        self.client = app.test_client()
        self.password = password

    def login(self, name: str, password: str | None = None) -> TestResponse:
        page = self.client.get("/ingresar")
        data = {**hidden_inputs(page.text), "email": f"{name}@{DOMAIN}", "password": password or self.password}
        return self.client.post("/ingresar", data=data)

    def get(self, url: str, **options: Any) -> TestResponse:
        return self.client.get(url, **options)

    def submit(self, url: str, data: dict[str, Any] | None = None, *, page_url: str | None = None,
               **overrides: Any) -> TestResponse:
        """Open the page with the form (default: `url`), fill in `data`, and post it to `url`."""
        page = self.client.get(page_url or url)
        assert page.status_code == 200, f"{page_url or url} answered {page.status_code}"
        fields = hidden_inputs(page.text)
        fields.update(data or {})
        fields.update(overrides)
        return self.client.post(url, data={k: v for k, v in fields.items() if v is not None})

    def post(self, url: str, data: dict[str, Any] | None = None) -> TestResponse:
        """A raw POST with a valid CSRF token (taken from the home page), as a crafted request would."""
        page = self.client.get("/protocolo")
        token = hidden_inputs(page.text).get("csrf_token", "")
        return self.client.post(url, data={"csrf_token": token, **(data or {})})

    def case_version(self, reference: str) -> str:
        """The case version the case page carries in its action forms."""
        page = self.client.get(f"/casos/{reference}")
        match = re.search(r'name="case_version" value="(\d+)"', page.text)
        assert match, "the case page offers no action form"
        return match.group(1)

    def act(self, reference: str, action: str, data: dict[str, Any] | None = None) -> TestResponse:
        """Fire an action from the case page, through its form if it has one."""
        case_page = self.client.get(f"/casos/{reference}")
        url = f"/casos/{reference}/acciones/{action}"
        if f'href="{url}"' in case_page.text:
            return self.submit(url, data)
        version = re.search(rf'action="{re.escape(url)}"[\s\S]*?name="case_version" value="(\d+)"', case_page.text)
        assert version, f"action {action} is not offered on the case page"
        fields = hidden_inputs(case_page.text)
        return self.client.post(url, data={"csrf_token": fields["csrf_token"], "case_version": version.group(1)})
