"""`nbo serve`: run the service with uvicorn."""

from __future__ import annotations

import click

from nbo.console import handles_errors
from nbo.settings import load_settings


@click.command("serve")
@click.option("--host", help="Listen address (default: NBO_SERVICE__HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: NBO_SERVICE__PORT, 8000).")
@handles_errors
def serve(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (and later the RM workbench) until interrupted."""
    import uvicorn

    from serving.app import create_app

    settings = load_settings()
    click.echo(f"serving on http://{host or settings.service.host}:{port or settings.service.port} "
               "(docs at /docs)", err=True)
    uvicorn.run(create_app(settings), host=host or settings.service.host, port=port or settings.service.port,
                log_level="warning", access_log=False)
