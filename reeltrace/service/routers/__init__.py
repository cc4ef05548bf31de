"""The service's routes, one ``APIRouter`` per resource.

``ROUTERS`` is the order ``create_app`` includes them in: it is the order of the OpenAPI
schema's tags (and so of the groups on ``/docs``).
"""

from __future__ import annotations

from . import (accounts, apidocs, checks, claims, claims_pages, console, files, jobs, matches, monitors, policies, reach,
               scans, webhooks, works)

ROUTERS = [accounts.router, works.router, matches.router, scans.router, monitors.router, checks.router, policies.router,
           claims.router, reach.router, webhooks.router, jobs.router, files.router, claims_pages.router, console.router,
           apidocs.router]

__all__ = ["ROUTERS"]
