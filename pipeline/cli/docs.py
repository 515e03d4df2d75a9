"""`prognos docs`: regenerate the results tables in docs/ from the JSON the commands wrote."""

from __future__ import annotations


def register(sub) -> None:
    d = sub.add_parser(
        "docs",
        help="regenerate docs/results/*.md (and docs/zoo.md) from the result JSON of run folders",
    )
    d.add_argument("runs", nargs="+", help="run folders (e.g. artifacts/demo artifacts/fd001 artifacts/zoo)")
    d.add_argument("--out", default="docs/results", help="folder for the tables (default docs/results)")
    d.set_defaults(func=cmd_docs)


def cmd_docs(args):
    from prognos.pipeline.report.docs import write_docs

    for path in write_docs(args.runs, args.out):
        print(f"[prognos] wrote {path}")
