"""Regenerate the manifest of known data sets that ``pixelsmith data check`` compares with,
from a verified copy of the data root (the layouts of docs/data.md):

    python bench/make_data_manifest.py --data-root DIR --out src/pixelsmith/data/known_data.json

Only the sets found under DIR are written; ``--sets`` limits it further. The format is
described at the top of ``src/pixelsmith/data/check.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pixelsmith.data.manifest import KNOWN_SETS, build_manifest
from pixelsmith.errors import PixelsmithError, run_script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", required=True, help="a verified copy of the data sets")
    ap.add_argument("--out", required=True, type=Path, help="the manifest to write (JSON)")
    ap.add_argument("--sets", default=None,
                    help=f"comma-separated subset of: {', '.join(KNOWN_SETS)}")
    args = ap.parse_args()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()] if args.sets else None
    unknown = sorted(set(sets or ()) - set(KNOWN_SETS))
    if unknown:
        raise PixelsmithError(f"unknown data set(s) {', '.join(unknown)}; "
                              f"known: {', '.join(KNOWN_SETS)}")
    t0 = time.perf_counter()
    manifest = build_manifest(args.data_root, sets)
    if not manifest["sets"]:
        raise PixelsmithError(f"no known data set found under {args.data_root}")
    # one set per line keeps diffs readable without indenting 50,000 prefixes
    text = "{\n" + ",\n".join(
        f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}"
        for k, v in manifest.items() if k != "sets") + ',\n"sets": {\n' + ",\n".join(
        f"{json.dumps(n)}: {json.dumps(e, sort_keys=True)}"
        for n, e in manifest["sets"].items()) + "\n}}\n"
    json.loads(text)  # what we write must read back
    args.out.write_text(text, encoding="utf-8")
    counts = {n: sum(len(f) for f in e.get("files", {}).values())
              + sum(g["count"] for g in e.get("packed", {}).values())
              for n, e in manifest["sets"].items()}
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB) in "
          f"{time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{n} {c} files" for n, c in counts.items()))


if __name__ == "__main__":
    run_script(main)  # a PixelsmithError: one line, exit 2, like the CLI
