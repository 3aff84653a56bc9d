"""Command line: a thin click layer over the library. One module per subcommand in `commands/`."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
import warnings

import click

from . import __version__
from .errors import TinyCompressError, UserError, one_line

# Subcommand name -> module in tinycompress.commands exposing a click command called `command`.
COMMANDS = {
    "compile": "compile",
    "verify": "verify",
    "boards": "boards",
    "check": "check",
    "flash": "flash",
    "compress": "compress",
    "distill": "distill",
    "qat": "qat",
    "demo": "demo",
    "export": "export",
    "report": "report",
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs (TensorFlow is slow to import)."""

    def list_commands(self, ctx):
        return sorted(name for name, mod in COMMANDS.items() if _exists(mod))

    def get_command(self, ctx, name):
        mod = COMMANDS.get(name)
        if mod is None or not _exists(mod):
            return None
        return importlib.import_module(f"tinycompress.commands.{mod}").command


def _exists(mod: str) -> bool:
    return importlib.util.find_spec(f"tinycompress.commands.{mod}") is not None


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="tinycompress")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx, debug):
    """tinycompress: compile neural networks to bit-exact INT8 C99 for microcontrollers."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv=None):
    """Run the command line; the exit code. An error is one line on stderr ("error: ..."), and
    then nothing else: Python warnings raised on the way (numpy's overflow warnings on a
    hostile model, say) are shown only when the command did not fail, or with --debug."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    # TensorFlow is imported lazily by some commands; keep its C++ logging off the terminal.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if debug else "3")
    if debug:
        os.environ["TINYCOMPRESS_DEBUG"] = "1"  # child processes show TensorFlow's output
    with warnings.catch_warnings(record=True) as caught:
        code = _run(argv, debug)
    if code in (0, 1) or debug:
        for w in caught:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return code


def _run(argv, debug: bool) -> int:
    try:
        return cli.main(args=argv, prog_name="tinycompress", standalone_mode=False) or 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return 2
    except UserError as e:
        return _fail(e, debug, 2)
    except TinyCompressError as e:
        return _fail(e, debug, 3)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as e:  # a bug: one line, the traceback with --debug
        return _fail(e, debug, 3, f"internal error ({type(e).__name__}): ",
                     "; this is a tinycompress bug: report it with the --debug output")


def _fail(e: BaseException, debug: bool, code: int, prefix: str = "", suffix: str = "") -> int:
    """Print the error as one line (its traceback too with --debug) and return the exit code."""
    if debug:
        traceback.print_exc()
    click.echo(f"error: {prefix}{one_line(str(e))}{suffix}", err=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
