"""triagehub: turns the flood of red CI, dbt and test runs into a short list of triaged issues."""

__version__ = "0.1.0"
