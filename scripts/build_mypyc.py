"""Compile orders_cli's synchronous hot modules with mypyc into build/mypyc/ (git-ignored).

Run through ``scripts/build-mypyc``; ``ORDERS_MYPYC=1`` then loads them (orders_cli/compiled.py).
The build directory holds the extension modules, mypyc's C sources and a manifest of the
sources compiled; nothing is written next to the ``.py`` files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clean", action="store_true", help="remove the build and stop")
    p.add_argument("--opt-level", default="3", help="mypyc's C optimisation level (0-3)")
    args = p.parse_args()

    from orders_cli import compiled

    out = compiled.BUILD_DIR
    if out.exists():
        shutil.rmtree(out)
    if args.clean:
        print(f"build-mypyc: removed {out}", file=sys.stderr)
        return 0
    from mypyc.build import mypycify  # mypy ships mypyc (a dev dependency)
    from setuptools import setup

    sources = [str(compiled.source_of(m)) for m in compiled.MODULES]
    fingerprint = compiled.fingerprint()  # of what is about to be compiled
    out.mkdir(parents=True)
    os.chdir(out)  # mypyc's C sources go to ./build; setuptools reads no pyproject.toml here
    setup(
        name="orders-mypyc",
        ext_modules=mypycify(sources, opt_level=args.opt_level),
        script_args=["-q", "build_ext", "--build-lib", str(out), "--build-temp", "tmp"],
    )
    manifest = {
        "modules": list(compiled.MODULES),
        "ext_suffix": compiled.ext_suffix(),
        "sources": fingerprint,
    }
    (out / compiled.MANIFEST).write_text(json.dumps(manifest, indent=1), "utf-8")
    print(f"build-mypyc: {len(compiled.MODULES)} modules compiled into {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
