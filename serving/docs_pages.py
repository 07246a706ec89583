"""/docs (Swagger UI) and /redoc (ReDoc), with their files served by the service itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and start Swagger UI with an inline script,
which the service's `Content-Security-Policy: default-src 'self'` blocks: the pages were blank.
Here the files come from the `fastapi-offline` package (nothing is downloaded at run time) and
Swagger UI is started by `web/static/swagger-init.js`, so /docs runs under the service's CSP as is.
ReDoc writes its styles into the page while it runs and draws its icons as `data:` images, so
/redoc alone also allows inline styles, `data:` images and its search worker (`blob:`); scripts
still come only from the service.
"""

from __future__ import annotations

import pathlib

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

WEB = pathlib.Path(__file__).resolve().parent / "workbench" / "web" / "static"
PACKAGED = pathlib.Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS = {
    "swagger-ui.css": (PACKAGED, "text/css"),
    "swagger-ui-bundle.js": (PACKAGED, "text/javascript"),
    "redoc.standalone.js": (PACKAGED, "text/javascript"),
    "favicon.png": (PACKAGED, "image/png"),
    "swagger-init.js": (WEB, "text/javascript"),
}
ASSET_URL = "/docs/assets"
REDOC_CSP = ("default-src 'self'; frame-ancestors 'none'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; worker-src 'self' blob:")


def docs_page(title: str, head: str, body: str) -> str:
    """An HTML page of the API docs: its title, extra head elements and body, assets from the service."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head}<link rel="icon" href="{ASSET_URL}/favicon.png">
</head>
<body>
{body}
</body>
</html>
"""


SWAGGER_PAGE = docs_page("nbo - API docs", f'<link rel="stylesheet" href="{ASSET_URL}/swagger-ui.css">\n',
                         f'<div id="swagger-ui"></div>\n<script src="{ASSET_URL}/swagger-ui-bundle.js"></script>\n'
                         f'<script src="{ASSET_URL}/swagger-init.js"></script>')
REDOC_PAGE = docs_page("nbo - API reference", "",
                       f'<redoc spec-url="/openapi.json"></redoc>\n<script src="{ASSET_URL}/redoc.standalone.js"></script>')


router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger() -> HTMLResponse:
    """The interactive API docs (Swagger UI)."""
    return HTMLResponse(SWAGGER_PAGE)


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """The API reference (ReDoc), under its own CSP (see the module docstring)."""
    return HTMLResponse(REDOC_PAGE, headers={"Content-Security-Policy": REDOC_CSP})


@router.get(f"{ASSET_URL}/{{name}}")
def asset(name: str) -> Response:
    """One of the docs pages' files (only those listed in ASSETS)."""
    if name not in ASSETS:
        return Response(status_code=404)
    folder, media_type = ASSETS[name]
    return FileResponse(folder / name, media_type=media_type, headers={"Cache-Control": "max-age=3600"})
