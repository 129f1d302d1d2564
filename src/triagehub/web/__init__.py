"""The web dashboard: server-rendered pages (Jinja2) over the store's query functions, with
hand-written JavaScript for live updates and triage through the REST API.

Public surface: :func:`triagehub.web.routes.web_router`.
"""
