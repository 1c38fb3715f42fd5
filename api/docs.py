"""The OpenAPI documents and the documentation UI under ``/schema``.

Litestar's UI plugins load their scripts, styles, fonts and favicon from public CDNs,
on the origin that keeps the sign-in token in localStorage, and show a blank page
offline. Here Swagger UI comes from npm (``api/web/frontend``, bundled into
``/static/docs.js`` and ``/static/docs.css`` like the site's own scripts) and the page
itself has no inline script, so a Content-Security-Policy as strict as the site's
holds. Without the website's assets (``api.web`` not installed) only the JSON and YAML
documents are served.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin

from api.page_headers import DOCS_PAGE_HEADERS

DOCS_PATH = "/schema"

# (name of a bundle in /static) -> its URL with a content hash (api.web.assets.AssetUrls)
AssetUrl = Callable[[str], str]


class SwaggerPage(OpenAPIRenderPlugin):
    """Swagger UI from our own ``/static``: the page is markup only, ``docs.js`` fetches
    the schema from ``openapi.json`` and draws it."""

    def __init__(self, asset: AssetUrl, path: str | list[str]) -> None:
        # an empty icon: Litestar's default is an image on a CDN
        super().__init__(path=path, favicon='<link rel="icon" href="data:,">', style="")
        self.asset = asset

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec_url = html.escape(self.get_openapi_json_route(request))
        page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  {self.favicon}
  <link rel="stylesheet" href="{html.escape(self.asset("docs.css"))}">
  <script src="{html.escape(self.asset("docs.js"))}" defer></script>
</head>
<body>
  <div id="swagger-ui" data-spec-url="{spec_url}"></div>
</body>
</html>
"""
        return page.encode()


def render_plugins(asset: AssetUrl | None) -> list[OpenAPIRenderPlugin]:
    """The documents, and the UI at ``/schema`` and ``/schema/swagger`` when the
    website's bundles are there to serve it."""
    plugins: list[OpenAPIRenderPlugin] = []
    if asset is not None:
        plugins.append(SwaggerPage(asset, path=["/", "/swagger"]))
    plugins += [JsonRenderPlugin(), YamlRenderPlugin()]
    return plugins


def docs_router() -> Router:
    """The router the documentation is mounted on: every page under ``/schema`` gets
    the documentation's security headers (nothing may come from elsewhere, not even
    the product pictures the website's pages show)."""
    return Router(
        path=DOCS_PATH,
        route_handlers=[],
        response_headers=DOCS_PAGE_HEADERS,
        include_in_schema=False,
    )
