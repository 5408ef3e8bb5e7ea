"""Reading a directory page's form as a browser would send it (every field, as shown), to post it back changed."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from werkzeug.test import TestResponse


class _Form(HTMLParser):
    """The fields of the page's own form (a POST form without an action: the header's forms have one)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.select: str | None = None
        self.fields: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = (a.get("method") or "").lower() == "post" and "action" not in a
        if not self.inside:
            return
        name = a.get("name") or ""
        if tag == "input" and name:
            kind = a.get("type") or "text"
            if kind in ("checkbox", "radio"):
                self.fields.setdefault(name, [])
                if "checked" in a:
                    self.fields[name].append(a.get("value") or "y")
            elif kind != "file":
                self.fields.setdefault(name, []).append(a.get("value") or "")
        elif tag == "select":
            self.select = name
            self.fields.setdefault(name, [])
        elif tag == "option" and self.select and "selected" in a:
            self.fields[self.select].append(a.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def form_fields(html: str) -> dict[str, Any]:
    """name -> value (or list of values for checkboxes and multiple selects), as the page shows them."""
    parser = _Form()
    parser.feed(html)
    return {k: (v[0] if len(v) == 1 and k not in ("services", "regions") else v) for k, v in parser.fields.items()}


def errors_in(html: str) -> list[str]:
    return re.findall(r'<p class="error">([^<]+)</p>', html)


def flashes(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", m).strip() for m in re.findall(r'<div class="flash [^"]+"[^>]*>([\s\S]*?)</div>', html)]


def post_form(client: Any, url: str, changes: dict[str, Any] | None = None, page_url: str | None = None) -> TestResponse:
    """Open the page, change some fields, send it; an unchecked box or empty list is left out, as a browser does."""
    page = client.get(page_url or url)
    assert page.status_code == 200, (page_url or url, page.status_code)
    data = {**form_fields(page.text), **(changes or {})}
    return client.post(url, data={k: v for k, v in data.items() if v not in (None, [], False)})
