"""``/docs``: Swagger UI over ``/openapi.json``, served from this machine.

FastAPI's default page loads Swagger UI from a CDN, so on a network without internet it is
blank. The assets come from the ``swagger-ui-bundle-v2`` package (Swagger UI 5, the first
major version that renders the OpenAPI 3.1 schemas FastAPI writes; the older
``swagger-ui-bundle`` ships Swagger UI 4, which shows only an error for them), mounted at
``ASSETS`` by ``create_app``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs-assets"
ASSETS_FOLDER = str(swagger_ui_path)

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui(request: Request):
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )


def declare_bearer_tokens(app: FastAPI) -> None:
    """Say in ``/openapi.json`` that every operation takes ``Authorization: Bearer <token>``,
    so Swagger UI has an *Authorize* button and its *Try it out* sends the token. (The
    routes read the token through ``auth``, which FastAPI cannot see as a security scheme.)"""

    def schema() -> dict:
        if app.openapi_schema is None:
            built = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            built.setdefault("components", {})["securitySchemes"] = {
                "token": {"type": "http", "scheme": "bearer", "description": "an account's token (rt_...)"}}  # fmt: skip
            built["security"] = [{"token": []}]
            app.openapi_schema = built
        return app.openapi_schema

    app.openapi = schema
