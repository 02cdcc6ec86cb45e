"""Command line of gradviz.

    python -m gradviz figures --out DIR [--format png|svg|both] [--only NAME ...] [--list]

renders every registered figure (:mod:`gradviz.figures`) to ``DIR/<name>.<format>``,
deterministically: the same command writes the same bytes.
"""

from __future__ import annotations

import argparse
import os
import sys

import matplotlib
from tqdm import tqdm

from . import chapters, figures
from .train import one_blas_thread


def _parser():
    p = argparse.ArgumentParser(prog="python -m gradviz", description="gradviz command line")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    f = sub.add_parser("figures", help="render the figures the notebooks show, for slides",
                       description="Render every figure the notebooks show (deterministic: fixed seeds, no "
                                   "timestamps in the files).")
    f.add_argument("--out", metavar="DIR", help="output folder (created if missing)")
    f.add_argument("--format", choices=("png", "svg", "both"), default="png", help="file format (default: png)")
    f.add_argument("--only", nargs="+", metavar="NAME", help="render only these figures (see --list)")
    f.add_argument("--list", action="store_true", help="list the figure names and exit")
    f.add_argument("--dpi", type=int, default=150, help="resolution of PNG files (default: 150)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _figures(args, parser) -> int:
    matplotlib.use("Agg", force=True)  # headless and identical everywhere
    chapters.load_all()  # each chapter module registers its figures on import
    names = figures.list_names()
    if args.list:
        width = max(len(n) for n in names)
        for n in names:
            print(f"{n:<{width}}  {figures.FIGURES[n].description}")
        return 0
    if not args.out:
        parser.error("figures: --out DIR is required (or use --list)")
    if args.dpi <= 0:
        parser.error(f"figures: --dpi must be a positive integer; got {args.dpi}")
    if args.only:
        unknown = [n for n in args.only if n not in figures.FIGURES]
        if unknown:
            parser.error(f"figures: unknown figure name(s): {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in set(args.only)]
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"figures: --out {args.out!r} exists and is not a folder")
    os.makedirs(args.out, exist_ok=True)
    formats = ("png", "svg") if args.format == "both" else (args.format,)

    written = []
    bar = tqdm(names, desc="figures", unit="fig", disable=args.quiet, file=sys.stderr)
    with one_blas_thread():
        for name in bar:
            bar.set_postfix_str(name)
            fig = figures.render(name)
            for fmt in formats:
                written.append(figures.save(fig, figures.output_path(args.out, name, fmt), fmt, dpi=args.dpi))
    bar.close()
    for path in written:
        print(path)
    return 0


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "figures":
        return _figures(args, parser)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2


if __name__ == "__main__":
    sys.exit(main())
