"""The ops dashboard: staff access, server-rendered pages (templates/, static/) pushed
over server-sent events, and the JSON API."""
