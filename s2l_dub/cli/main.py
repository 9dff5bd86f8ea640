"""Entry point: `s2l-dub COMMAND ...`. User errors print one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from .. import __version__
from ..errors import S2LError
from .dub import batch_command, dub_command, sample_project_command, watch_command
from .prepare import prepare_command
from .render import render_command
from .train import eval_command, train_command


class MainGroup(click.Group):
    """`s2l-dub TIMELINE ...` is the main job; any other first word is a stage command."""

    def resolve_command(self, ctx, args):
        # A timeline is a path with an extension (or an existing file); a bare word is a
        # mistyped command, and click's "No such command" says so better.
        if args and args[0] not in self.commands and not args[0].startswith("-") and \
                (Path(args[0]).suffix or Path(args[0]).exists()):
            args = ["dub", *args]
        return super().resolve_command(ctx, args)


@click.group(cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s2l-dub")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """s2l-dub: per-actor lip-sync dubbing for editors.

    The main job: s2l-dub TIMELINE --audio DUB_STEM [options] (see `s2l-dub dub --help`).
    """
    ctx.obj = Console(stderr=True)


cli.add_command(prepare_command)
cli.add_command(train_command)
cli.add_command(eval_command)
cli.add_command(render_command)
cli.add_command(dub_command)
cli.add_command(sample_project_command)
cli.add_command(watch_command)
cli.add_command(batch_command)


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="s2l-dub", standalone_mode=False)
    except S2LError as e:
        click.echo(f"s2l-dub: error: {e}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("s2l-dub: aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
