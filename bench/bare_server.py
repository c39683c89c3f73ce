"""The raw limit for HTTP: a bare aiohttp JSON endpoint, no validation, storage or events.

python -m bench.bare_server --port PORT
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response(
        {"reference": f"R-{body.get('n', 0)}", "status": "received"}, status=202
    )


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/", accept)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
