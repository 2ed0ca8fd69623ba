"""Benchmarks of the online methods (CPU, minutes): one command for every online experiment.

Each experiment lives in its own module and can be run there too:

* ``--part stn`` and ``--part stn-recheck``: Self-Tuning Networks against random search and TPE
  (:mod:`benchmarks.online_stn`, results ``benchmarks/results/online_stn*``).
* ``--part hypergrad``: hypergradient learning rates (:mod:`benchmarks.online_hypergrad`, results
  ``benchmarks/results/online_hypergrad*``).

Every other argument goes to the experiment's module unchanged (``--part all``: both parts, the
hypergradient part (its report stage) with only ``--jobs`` and ``--replot``).

Usage::

    python -m benchmarks.online --part stn --jobs 1 --seeds 0-9
    python -m benchmarks.online --part stn --seeds 2 --quick
    python -m benchmarks.online --part stn-recheck --retrains 5 --jobs 2
    python -m benchmarks.online --part hypergrad --jobs 2
    python -m benchmarks.online --part stn --replot
"""

from __future__ import annotations

import argparse
import sys

PARTS = ("stn", "stn-recheck", "hypergrad", "all")


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--part", choices=PARTS, default="all")
    args, rest = parser.parse_known_args(argv)
    if {"-h", "--help"} & set(rest):
        print(__doc__)
        return
    from benchmarks import online_hypergrad, online_stn

    if args.part == "hypergrad":
        online_hypergrad.main(rest)
    elif args.part == "all":  # the hypergradient part takes only the arguments both parts share
        shared = argparse.ArgumentParser(add_help=False)
        shared.add_argument("--jobs")
        shared.add_argument("--replot", action="store_true")
        common, _ = shared.parse_known_args(rest)
        online_hypergrad.main([*(["--jobs", common.jobs] if common.jobs else []),
                               *(["--replot"] if common.replot else [])])
    if args.part in ("stn", "stn-recheck", "all"):
        online_stn.main(["--part", "stn" if args.part == "all" else args.part, *rest])


if __name__ == "__main__":
    main()
