"""``ledger rebuild [NAME]``: drop a read model and rebuild it from the start of the log (SPEC section 5).

Read models are disposable: the log is the record. Rebuilding one gives exactly the tables that
following the log incrementally gave, which is what makes a rebuild safe after a change to a
projection's code, and a check worth running when a read model is in doubt. The parser is api/cli.py's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable

from sqlalchemy import Engine, Table, text

from api.cli import open_ledger
from domain.errors import NotFound


def refresh_statistics(engine: Engine, tables: Iterable[Table]) -> None:
    """ANALYZE freshly rebuilt tables: a planner still believing them empty picks scans that cost
    PostgreSQL tens of milliseconds a read until autovacuum gets round to them."""
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        for table in tables:
            conn.execute(text(f"ANALYZE {quote(table.name)}"))


def cmd_rebuild(args: argparse.Namespace) -> int:
    services = open_ledger(args)
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

