"""`tinycompress export OUTDIR --format F -o DEST`: the compiled model as a CMake, Arduino, Zephyr
or PlatformIO package."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("export")
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, metavar="FORMAT",
              help="cmake, arduino, zephyr or platformio.")
@click.option("-o", "--output", "dest", required=True, type=click.Path(path_type=Path),
              help="Package directory (new, empty, or an earlier export, which is replaced).")
@click.option("--zip", "as_zip", is_flag=True, help="Also write DEST.zip (the package folder).")
@click.option("--lib-name", help="Package name (default: the model's prefix, adapted to the "
                                 "format's naming rules).")
@click.option("--lib-version", default="1.0.0", show_default=True, help="Package version (semver).")
@click.option("--author", default="tinycompress", show_default=True,
              help="Author and maintainer in the package metadata.")
@click.option("--url", default=None,
              help="Project URL in the package metadata (default: a placeholder; set it before "
                   "publishing the package).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(outdir, fmt, dest, as_zip, lib_name, lib_version, author, url, as_json):
    """Package the compiled model in OUTDIR for a firmware build system."""
    from ..api import export as run
    from ..export import format_module

    result = run(outdir, fmt, dest, zip=as_zip, name=lib_name, version=lib_version,
                 author=author, url=url)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
        return
    title = format_module(fmt).TITLE
    click.echo(f"wrote {title} '{result.name}' to {result.dest} ({len(result.files)} files; "
               f"example input: {result.example_input})")
    if result.zip:
        click.echo(f"wrote {result.zip}")
