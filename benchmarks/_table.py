"""What the benchmark scripts share: their Markdown table, the optional JSON copy of the rows
and the exit status (0 only if every row was bit-exact)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Callable, Iterable


def print_table(head: list[str], rows: Iterable[list]) -> None:
    """A Markdown table on stdout: `head`, then one line per row of cells."""
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for cells in rows:
        print("| " + " | ".join(str(c) for c in cells) + " |")


def yes_no(ok: bool) -> str:
    """A bit-exact cell: a mismatch stands out in capitals."""
    return "yes" if ok else "NO"


def finish(rows: list[dict], json_path: Path | None) -> int:
    """Write the rows as JSON to `json_path` if given; the exit status: 0 if all are bit-exact."""
    if json_path:
        json_path.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["bit_exact"] for r in rows) else 1


def run(main: Callable[[], int]) -> None:
    """Exit with main()'s status; Ctrl-C stops quietly."""
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
