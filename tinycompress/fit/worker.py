"""A worker process of a `fit` study: ``python -m tinycompress.fit.worker CONFIG.json INDEX``.

Started by ``fit(workers=N)``; runs trials of the study in CONFIG until it has enough, prints one
line per trial, writes nothing else (the process that started it writes the result)."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str]) -> int:
    from tinycompress.errors import UserError, one_line
    from tinycompress.fit.search import run_trials

    if len(argv) != 2:
        print("usage: python -m tinycompress.fit.worker CONFIG.json INDEX", file=sys.stderr)
        return 2
    config = json.loads(open(argv[0]).read())

    def on_trial(r):
        print(f"trial {r.number} {r.state} {r.stage} drop={r.drop_pp}", flush=True)

    try:
        run_trials(config, int(argv[1]), on_trial, lambda s: print(s, flush=True))
    except UserError as e:
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
