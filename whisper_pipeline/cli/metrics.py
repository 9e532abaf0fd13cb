"""`whisper-pipeline metrics`: the Prometheus exporter of the pipeline's state."""

from __future__ import annotations

import click

from whisper_pipeline.cli.common import Options, open_instance, pass_options


@click.command("metrics")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(min=1, max=65535), default=9464, show_default=True)
@pass_options
def metrics_command(options: Options, host: str, port: int) -> int:
    """Serve Prometheus metrics of the runs, recordings, failures, queues, workers and the
    warehouse at http://HOST:PORT/metrics (docs/monitoring.md)."""
    from whisper_pipeline.runtime.exporter import serve

    serve(open_instance(options.pipeline_home), options.pipeline_home, host, port)
    return 0
