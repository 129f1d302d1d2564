"""``/login`` and ``POST /logout``: dashboard sessions (see :mod:`triagehub.web.auth`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from triagehub.web.auth import COOKIE, SESSION_SECONDS, local_path, same_origin
from triagehub.web.deps import DashboardDep, render
from triagehub.web.filters import Filters

router = APIRouter(include_in_schema=False)

UNKNOWN_TOKEN = "unknown or revoked token"


@router.get("/login")
def login_page(request: Request, dash: DashboardDep, next: str | None = None) -> Response:
    return render(
        dash,
        request,
        "login.html",
        tab=None,
        filters=Filters(),
        viewer=dash.auth.viewer(request),
        next_path=local_path(next),
        error=None,
    )


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
    return render(
        dash,
        request,
        "login.html",
        tab=None,
        filters=Filters(),
        viewer=None,
        next_path=target,
        error=error,
        status_code=401 if error == UNKNOWN_TOKEN else 403,
    )


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
