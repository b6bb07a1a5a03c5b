"""The ``vigil`` command: one Typer app whose subcommands call into Vigil's packages."""
