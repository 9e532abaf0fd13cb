"""`whisper-pipeline api`: the HTTP API; `api-token create|list|revoke`: who may call it."""

from __future__ import annotations

import click

from whisper_pipeline.cli.common import Options, open_instance, open_storage, pass_options


@click.command("api")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface; put TLS in front).",
)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(min=1),
    default=2048,
    show_default=True,
    help="Larger uploads are refused (413).",
)
@click.option(
    "--max-concurrent",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Uploads and synchronous transcriptions at a time; more get 429.",
)
@click.option(
    "--sync-timeout",
    type=click.FloatRange(min=1),
    default=1800.0,
    show_default=True,
    help="Seconds /asr and /v1/audio/transcriptions wait for the run (then 504).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Runs at a time in the API's own worker (embedded broker only).",
)
@pass_options
def api_command(
    options: Options,
    host: str,
    port: int,
    max_upload_mb: int,
    max_concurrent: int,
    sync_timeout: float,
    workers: int,
) -> int:
    """Serve the HTTP API (OpenAPI page at /docs; docs/api.md)."""
    from whisper_pipeline.api.server import serve
    from whisper_pipeline.api.service import Api, Limits

    pipeline_home = options.pipeline_home
    api = Api(
        pipeline_home,
        open_instance(pipeline_home),
        open_storage(pipeline_home),
        Limits(max_upload_mb << 20, max_concurrent, sync_timeout),
    )
    api.storage.warehouse.ensure_layout()
    api.storage.warehouse.refresh_database()
    if not api.tokens.list():
        click.echo(
            "no API token exists: every request will get 401 until one is created with"
            " `whisper-pipeline api-token create NAME`",
            err=True,
        )
    serve(api, host, port, workers)
    return 0


@click.group("api-token")
def api_token_group() -> None:
    """Create, list and revoke the tokens the HTTP API accepts."""


@api_token_group.command("create")
@click.argument("name")
@pass_options
def create_token(options: Options, name: str) -> int:
    """A new token called NAME (printed once: store it now)."""
    from whisper_pipeline.api.tokens import TokenError, TokenStore

    try:
        token = TokenStore(options.pipeline_home).create(name)
    except TokenError as error:
        click.echo(f"refused: {error}", err=True)
        return 2
    click.echo(token)
    return 0


@api_token_group.command("list")
@pass_options
def list_tokens(options: Options) -> int:
    """The tokens by name, when they were created and their last four characters."""
    from whisper_pipeline.api.tokens import TokenStore

    for stored in TokenStore(options.pipeline_home).list():
        click.echo(f"{stored.name}\tcreated {stored.created_at}\t…{stored.hint}")
    return 0


@api_token_group.command("revoke")
@click.argument("name")
@pass_options
def revoke_token(options: Options, name: str) -> int:
    """The token called NAME stops working at once."""
    from whisper_pipeline.api.tokens import TokenError, TokenStore

    try:
        TokenStore(options.pipeline_home).revoke(name)
    except TokenError as error:
        click.echo(f"refused: {error}", err=True)
        return 2
    click.echo(f"revoked {name}")
    return 0
