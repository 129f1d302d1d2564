"""``/static/{name}``: the dashboard's own script, style sheet and icon."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from triagehub.web.deps import DashboardDep

router = APIRouter(include_in_schema=False)


@router.get("/static/{name}")
def static_file(dash: DashboardDep, name: str, v: str | None = None) -> Response:
    found = dash.static.get(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    cache = "public, max-age=31536000, immutable" if v == found.digest else "no-cache"
    return Response(
        found.body,
        media_type=found.media_type,
        headers={
            "Cache-Control": cache,
            "ETag": f'"{found.digest}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
