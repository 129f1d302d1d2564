"""The pydantic shapes the OpenAPI document shows (responses are rendered from the queries)."""
