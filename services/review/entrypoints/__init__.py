"""Review's entrypoints: the JSON API (routes.py, openapi.py), staff management
(staff_api.py), signed staff assertions for the monitor and notify (assertions.py), and the
staff console (console/: server-rendered pages with their templates, static files and
messages)."""
