"""The offline ``/docs`` page (no CDN assets; a strict CSP) and the OpenAPI document with every
error response as ``application/problem+json``."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from triagehub.api.problems import PROBLEM_JSON
from triagehub.api.schemas.common import Problem

# The page is one flat HTML document with its style and script (a template, not logic).
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>triagehub API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;
color:#1d1d1f}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.2rem .8rem}
.op summary{cursor:pointer;padding:.35rem 0}
.m{display:inline-block;min-width:4.2rem;font:600 12px monospace;text-transform:uppercase}
.get{color:#0a7d33}.post{color:#0753a6}.patch{color:#9a5b00}.delete{color:#b00020}
code,pre{font:13px ui-monospace,monospace;background:#f5f5f7;border-radius:4px}
code{padding:0 .25rem}pre{padding:.5rem;overflow:auto;max-height:24rem}
table{border-collapse:collapse;margin:.4rem 0}
td,th{border-bottom:1px solid #eee;padding:.2rem .6rem;text-align:left;vertical-align:top}
.muted{color:#666}
</style></head><body>
<h1 id="title">triagehub API</h1>
<p class="muted">Generated from <a href="/openapi.json"><code>/openapi.json</code></a>.
Write endpoints need <code>Authorization: Bearer th_…</code> (<code>triagehub token create
--scope write</code>). Errors are <code>application/problem+json</code>.</p>
<div id="ops">Loading…</div>
<script>
function el(tag, attrs, text) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function typeOf(s) {
  if (!s) return "";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.anyOf) return s.anyOf.map(typeOf).join(" | ");
  if (s.type === "array") return typeOf(s.items) + "[]";
  if (s.enum) return s.enum.join(" | ");
  return s.type || "";
}
fetch("/openapi.json").then(function (r) { return r.json(); }).then(function (spec) {
  document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
  var root = document.getElementById("ops"); root.textContent = "";
  var groups = {};
  Object.keys(spec.paths).forEach(function (path) {
    Object.keys(spec.paths[path]).forEach(function (method) {
      var op = spec.paths[path][method], tag = (op.tags || ["other"])[0];
      (groups[tag] = groups[tag] || []).push([method, path, op]);
    });
  });
  Object.keys(groups).sort(function (a, b) {
    return (a === "other") - (b === "other");  // untagged routes last
  }).forEach(function (tag) {
    root.appendChild(el("h2", {}, tag));
    groups[tag].forEach(function (item) {
      var method = item[0], path = item[1], op = item[2];
      var d = el("details", {class: "op"}), s = el("summary");
      s.appendChild(el("span", {class: "m " + method}, method));
      s.appendChild(el("code", {}, path));
      s.appendChild(document.createTextNode(" " + (op.summary || "")));
      d.appendChild(s);
      if (op.description) d.appendChild(el("p", {}, op.description));
      var params = op.parameters || [];
      if (params.length) {
        var t = el("table"), h = el("tr");
        ["parameter", "in", "type", "description"].forEach(function (c) {
          h.appendChild(el("th", {}, c));
        });
        t.appendChild(h);
        params.forEach(function (p) {
          var tr = el("tr");
          tr.appendChild(el("td", {}, p.name + (p.required ? " *" : "")));
          tr.appendChild(el("td", {}, p.in));
          tr.appendChild(el("td", {}, typeOf(p.schema)));
          tr.appendChild(el("td", {}, p.description || (p.schema || {}).description || ""));
          t.appendChild(tr);
        });
        d.appendChild(t);
      }
      if (op.requestBody) {
        d.appendChild(el("p", {}, "Body: " + Object.keys(op.requestBody.content).join(", ")));
      }
      var codes = Object.keys(op.responses || {});
      d.appendChild(el("p", {class: "muted"}, "Responses: " + codes.map(function (c) {
        return c + " " + (op.responses[c].description || "");
      }).join("; ")));
      root.appendChild(d);
    });
  });
  var schemas = (spec.components || {}).schemas || {};
  root.appendChild(el("h2", {}, "schemas"));
  Object.keys(schemas).sort().forEach(function (name) {
    var d = el("details", {class: "op"});
    d.appendChild(el("summary", {}, name));
    d.appendChild(el("pre", {}, JSON.stringify(schemas[name], null, 2)));
    root.appendChild(d);
  });
}).catch(function (e) {
  document.getElementById("ops").textContent = "Could not load /openapi.json: " + e;
});
</script></body></html>
"""


def _inline_hash(tag: str) -> str:
    """The CSP source of the page's one inline ``<tag>`` block (its SHA-256)."""
    found = re.search(rf"<{tag}>(.*?)</{tag}>", DOCS_HTML, re.DOTALL)
    assert found is not None
    digest = hashlib.sha256(found.group(1).encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


# The docs page may run its own inline script and style (by hash) and fetch /openapi.json:
# nothing else, whatever the OpenAPI document holds.
DOCS_CSP = (
    f"default-src 'none'; script-src {_inline_hash('script')}; "
    f"style-src {_inline_hash('style')}; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)
DOCS_HEADERS = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with every error response as ``application/problem+json`` (made
    once per app; install with ``functools.partial(problem_openapi, app)``)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": problem_ref}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema
