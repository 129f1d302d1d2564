"""``/login`` and ``POST /logout``: dashboard sessions (see :mod:`triagehub.web.auth`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from triagehub.web.auth import COOKIE, SESSION_SECONDS, Viewer, local_path, same_origin
from triagehub.web.deps import Dashboard, DashboardDep, render
from triagehub.web.filters import Filters

router = APIRouter(include_in_schema=False)

UNKNOWN_TOKEN = "unknown or revoked token"


def _form(
    dash: Dashboard,
    request: Request,
    viewer: Viewer | None,
    next_path: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The sign-in page (with why the last try was refused)."""
    return render(
        dash,
        request,
        "login.html",
        tab=None,
        filters=Filters(),
        viewer=viewer,
        status_code=status_code,
        next_path=next_path,
        error=error,
    )


@router.get("/login")
def login_page(request: Request, dash: DashboardDep, next: str | None = None) -> Response:
    return _form(dash, request, dash.auth.viewer(request), local_path(next))


@router.post("/login")
def login(
    request: Request,
    dash: DashboardDep,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = local_path(next)
    error = None
    if not same_origin(request):
        error = "refused: the form was sent from another site"
    else:
        signed = dash.auth.sign_in(token)
        if signed is not None:
            cookie, _viewer = signed
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                COOKIE,
                cookie,
                max_age=SESSION_SECONDS,
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
                path="/",
            )
            return response
        error = UNKNOWN_TOKEN
    return _form(dash, request, None, target, error, 401 if error == UNKNOWN_TOKEN else 403)


@router.post("/logout")
def logout(request: Request, dash: DashboardDep, csrf: Annotated[str, Form()] = "") -> Response:
    auth = dash.auth
    viewer = auth.viewer(request)
    if viewer is not None and not auth.csrf_ok(viewer, csrf):
        return Response("the form expired: reload the page", status_code=403)
    if viewer is not None:
        auth.sign_out(request)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
