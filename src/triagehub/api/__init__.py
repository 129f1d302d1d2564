"""The HTTP interface: the FastAPI app (:mod:`triagehub.api.app`), its routers and schemas."""
