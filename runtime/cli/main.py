"""``helicon``: the local platform, the runtime services and the demo, from one command."""

from __future__ import annotations

import typer

from helicon.runtime.cli import demo, drift, learn, local, render, run

app = typer.Typer(
    name="helicon",
    help="Helicon: an open platform for streaming machine learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(local.app, name="local")
app.add_typer(run.app, name="run")
app.add_typer(learn.app, name="learn")
run.app.command(name="drift")(drift.run_drift)
run.app.command(name="learn")(learn.run_learn)
app.add_typer(drift.app, name="drift")
app.command(name="demo")(demo.demo)
app.command(name="render")(render.render)


if __name__ == "__main__":
    app()
