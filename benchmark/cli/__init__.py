"""The ``medbench`` command line: one sub-app per file, thin commands."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

from benchmark import __version__
from benchmark.cli import (
    config,
    data,
    explain,
    leaderboard,
    listing,
    predict,
    promote,
    report,
    run,
    serve,
    suite,
    ui,
    weights,
)
from benchmark.errors import MedbenchError

__all__ = ["app"]


class _Group(TyperGroup):
    """Prints a :class:`MedbenchError` as a message (exit 1); ``--debug`` shows the traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MedbenchError as exc:
            if ctx.params.get("debug"):
                raise
            from benchmark.console import error

            error(str(exc))
            raise typer.Exit(code=1) from None


app = typer.Typer(
    cls=_Group,
    name="medbench",
    help="Benchmark transfer learning for medical image classification.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"medbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Benchmark transfer learning for medical image classification."""
    from benchmark.settings import check_settings

    check_settings()  # every MEDBENCH_* variable, before any work


app.command("run")(run.run)
app.command("worker")(run.worker)
app.command("status")(run.status)
app.command("leaderboard")(leaderboard.leaderboard)
app.command("report")(report.report)
app.command("explain")(explain.explain)
app.command("promote")(promote.promote)
app.command("predict")(predict.predict)
app.command("app")(serve.app)
app.command("ui")(ui.ui)
app.command("list")(listing.list_)
app.command("config")(config.config)
app.add_typer(suite.app, name="suite")
app.add_typer(data.app, name="data")
app.add_typer(weights.app, name="weights")
