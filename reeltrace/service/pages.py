"""The console's server-rendered pages: the package's Jinja templates and the helpers they use."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from .. import __version__
from ..records import CATEGORIES
from ..report.evidence import WORK_COLOURS
from ..report.formats import clock
from .db import Account


def when(value) -> str:
    """ISO time (UTC) as 'YYYY-MM-DD HH:MM UTC' for pages."""
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def clocktime(seconds: float) -> str:
    """Seconds since the epoch as 'HH:MM:SS' (UTC), the monitor timeline's axis."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%H:%M:%S")


def thousands(value) -> str:
    """A count as '12,345': views run to millions, and a bare run of digits is misread."""
    if value is None:
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def timeline_total(result: dict) -> float:
    """The length of a scan's timeline: its duration, or its last segment's end if later."""
    ends = [s["query_end"] for m in result.get("matches", []) for s in m["segments"]]
    return max([result.get("duration") or 0.0] + ends) or 1.0


class Pages:
    """Renders the templates in ``reeltrace/service/templates`` (autoescaped)."""

    def __init__(self) -> None:
        self.templates = Environment(loader=PackageLoader("reeltrace.service", "templates"), autoescape=select_autoescape())
        self.templates.globals.update(timeline_total=timeline_total, clock=clock, categories=CATEGORIES,
                                      colours=WORK_COLOURS, version=__version__)  # fmt: skip
        self.templates.filters["when"] = when
        self.templates.filters["clocktime"] = clocktime
        self.templates.filters["thousands"] = thousands

    def render(self, name: str, me: Account | None, status_code: int = 200, **context) -> HTMLResponse:
        """Page ``name`` for the signed-in account ``me`` (None: signed out)."""
        return HTMLResponse(self.templates.get_template(name).render(me=me, **context), status_code=status_code)


def get_pages(request: Request) -> Pages:
    """The app's ``Pages`` (a FastAPI dependency)."""
    return request.app.state.pages
