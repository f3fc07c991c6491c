"""``ledger rebuild [NAME]``: rebuild a read model from the start of the log (SPEC section 5).

Read models are disposable: the log is the record. Rebuilding one gives exactly the tables that
following the log incrementally gave, which is what makes a rebuild safe after a change to a
projection's code (and how a read model stalled on an entry recovers once the code is fixed), and
a check worth running when a read model is in doubt. It runs while servers serve: each read model
is rebuilt in one transaction that never drops a table (projections/runner.py), so readers see the
old rows until it commits and writers wait for it. ``--recreate-tables`` drops and recreates the
tables instead, for a projection whose table layout changed; stop the servers first. The parser is
api/cli.py's.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable

from sqlalchemy import Engine, Table, text

from api.cli import open_ledger
from domain.errors import NotFound, ReadModelStalled


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
        rebuilt, stalled = [], []
        for name in [args.name] if args.name else known:
            started = time.perf_counter()
            try:
                services.runner.rebuild(name, recreate=args.recreate_tables)
            except ReadModelStalled as stall:  # kept up to the entry; the others are still worth rebuilding
                print(f"ledger: {stall}", file=sys.stderr)
                stalled.append(name)
                continue
            rebuilt.append(name)
            refresh_statistics(services.engine, services.runner.projections[name].tables)
            seconds = time.perf_counter() - started
            print(f"rebuilt {name} up to log position {services.runner.position(name)} in {seconds:.1f} s")
        # Anything appended meanwhile, for every read model; a stall elsewhere is `ledger status`'s news.
        services.runner.catch_up(require=rebuilt)
    finally:
        services.close()
    return 2 if stalled else 0  # 2: as any other refusal of the command (api/cli.py)

