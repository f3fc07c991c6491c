"""``ledger rebuild [NAME]``: drop a read model and rebuild it from the start of the log (SPEC section 5).

Read models are disposable: the log is the record. Rebuilding one gives exactly the tables that
following the log incrementally gave, which is what makes a rebuild safe after a change to a
projection's code, and a check worth running when a read model is in doubt.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable

from sqlalchemy import Engine, Table, text

from api.bootstrap import bootstrap
from api.settings import Settings
from domain.errors import NotFound


def refresh_statistics(engine: Engine, tables: Iterable[Table]) -> None:
    """ANALYZE freshly rebuilt tables: a planner still believing them empty picks scans that cost
    PostgreSQL tens of milliseconds a read until autovacuum gets round to them."""
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        for table in tables:
            conn.execute(text(f"ANALYZE {quote(table.name)}"))


def cmd_rebuild(args: argparse.Namespace) -> int:
    services = bootstrap(Settings.from_env(database_url=args.database_url, checkpoint_key=args.checkpoint_key))
    try:
        known = list(services.runner.projections)
        if args.name is not None and args.name not in known:
            raise NotFound(f"no read model {args.name!r}; the read models are {', '.join(known)}")
        for name in [args.name] if args.name else known:
            started = time.perf_counter()
            services.runner.rebuild(name)
            refresh_statistics(services.engine, services.runner.projections[name].tables)
            seconds = time.perf_counter() - started
            print(f"rebuilt {name} up to log position {services.runner.position(name)} in {seconds:.1f} s")
        services.runner.catch_up()  # anything appended meanwhile, for every read model
    finally:
        services.close()
    return 0


def add_commands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``rebuild``."""
    p = subparsers.add_parser(
        "rebuild", parents=[common], help="drop a read model (or all of them) and rebuild it from the log"
    )
    p.add_argument("name", nargs="?", help="the read model to rebuild (default: every one, in order)")
    p.set_defaults(func=cmd_rebuild)
