"""Browser pages: the playground at `/`, the dashboard at `/dashboard`, the API reference at
`/docs` (Swagger UI's files from the package: no CDN, so it works air-gapped), and the
package's static files under `/static`.

The pages hold no data: they call the API (with the key the user types), so they and their
assets are open while every JSON route they read needs the key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
PAGES_DIR = Path(__file__).parent / "pages"
STATIC_PREFIX = "/static"
DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"
PLAYGROUND_PATH = "/"
DASHBOARD_PATH = "/dashboard"
# The pages run only their own scripts and talk only to this server, whatever ends up in the
# page (CodeMirror adds inline styles, hence 'unsafe-inline' for styles alone).
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# What a browser loads before it can be given a key: pages and their assets, never data.
PAGE_PATHS = frozenset({DOCS_PATH, OPENAPI_PATH, PLAYGROUND_PATH, DASHBOARD_PATH})

router = APIRouter(include_in_schema=False)


@router.get(PLAYGROUND_PATH)
async def playground() -> FileResponse:
    return _page("playground.html")


@router.get(DASHBOARD_PATH)
async def dashboard_page() -> FileResponse:
    return _page("dashboard.html")


def _page(name: str) -> FileResponse:
    return FileResponse(PAGES_DIR / name, media_type="text/html", headers=PAGE_SECURITY_HEADERS)


@router.get(DOCS_PATH)
async def api_reference() -> HTMLResponse:
    swagger = f"{STATIC_PREFIX}/vendor/swagger-ui"
    return get_swagger_ui_html(
        openapi_url=OPENAPI_PATH,
        title="FauxPilot API",
        swagger_js_url=f"{swagger}/swagger-ui-bundle.js",
        swagger_css_url=f"{swagger}/swagger-ui.css",
        swagger_favicon_url=f"{swagger}/favicon-32x32.png",
    )


def is_page_path(path: str) -> bool:
    """Paths a browser may fetch without an API key: the pages' HTML and static assets."""
    return path in PAGE_PATHS or path.startswith(STATIC_PREFIX + "/")


def install_pages(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
