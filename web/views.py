"""HTML shells of the web UI. They carry no data (that comes from the authenticated APIs), so they are public."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tts_common.base.permissions import PERMISSION_NAMES

# Every script and style is a local file: no inline code may run, so user text that slipped into the DOM as markup
# could still not execute. WebSockets go to the same host ('self' covers ws:/wss: of this origin in CSP 3).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def page(name: str, title: str, *, auth: bool = True, permission: str | None = None) -> Callable[..., HttpResponse]:
    """A view rendering ``web/<name>.html``; ``auth``/``permission`` tell the page script what the user must be and
    hold (tts_common.base.permissions; the APIs the page calls check it again)."""
    if permission is not None and permission not in PERMISSION_NAMES:
        raise ValueError(f"{permission!r} is not a permission")

    @require_GET
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        context = {"page": name, "title": title, "needs_auth": auth, "needs_permission": permission or "", **kwargs}
        response = render(request, f"web/{name}.html", context)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response["Cache-Control"] = "no-cache"
        response["Referrer-Policy"] = "same-origin"
        return response

    view.__name__ = f"{name.replace('-', '_')}_page"
    return view
