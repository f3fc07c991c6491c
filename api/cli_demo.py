"""``ledger demo``: a fresh ledger holding a fictional multi-agency case, served with its web view.

The README's first command ends here, so it must work on a fresh machine, again and again: it
builds the demo in ``./ledger-demo`` (replacing an earlier demo there) or, when that folder holds
something else, in a new temporary folder; prints the address and the sign-in tokens before serving;
and serves until Ctrl-C. The parser is api/cli.py's; this module (and so the web stack) is imported
only when ``ledger demo`` runs.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn

from api.app import create_app
from api.demo import AGENCIES, MARKER, POLICE_REF, DemoLedger, build_demo
from api.bootstrap import bootstrap
from api.usecases.admin import COMMAND_LINE

DEFAULT_DIR = Path("ledger-demo")


def choose_directory(requested: str | None) -> Path:
    """The folder asked for; by default ./ledger-demo unless it holds something other than a demo."""
    if requested:
        return Path(requested)
    if not DEFAULT_DIR.exists() or (DEFAULT_DIR / MARKER).exists() or not any(DEFAULT_DIR.iterdir()):
        return DEFAULT_DIR
    return Path(tempfile.mkdtemp(prefix="ledger-demo-"))


def port_is_free(host: str, port: int) -> bool:
    """Whether the address can be bound now, so a busy port gets a clear message, not a traceback."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def issue_demo_tokens(demo: DemoLedger) -> tuple[str, str]:
    """A practitioner token for the case's council and an inquiry token, issued as any token is (each
    issue a log entry naming the command-line administrator)."""
    services = bootstrap(demo.settings)
    try:
        practitioner, _ = services.admin.issue_token(COMMAND_LINE, "practitioner", local_authority=demo.council,
                                                     holder="Sam Example (demo social worker)")  # fmt: skip
        inquiry, _ = services.admin.issue_token(COMMAND_LINE, "inquiry", holder="Demo practice review")
    finally:
        services.close()
    return practitioner, inquiry


def describe(demo: DemoLedger, url: str, practitioner: str, inquiry: str) -> str:
    """What the user needs to try the demo, in the order they need it."""
    as_of = demo.before_referral.strftime("%Y-%m-%dT%H:%M:%S")
    return f"""\
Demo ledger ready in {demo.directory}/: {len(demo.receipts)} signed records from {len(AGENCIES)} fictional agencies
(their keys are in {demo.directory}/keys/). Everything in it is fictional.

Open {url} and sign in with this practitioner token (council {demo.council}):

    {practitioner}

Find the child by NHS number {demo.child_nhs_number}, or by the police's own reference {POLICE_REF}
(agency Northshire Police). Set "as known at" to {as_of} (UTC) to see what was visible before
children's social care linked the police records.

An inquiry token (reads every child, the log's state and who looked):

    {inquiry}
"""


def cmd_demo(args: argparse.Namespace) -> int:
    directory = choose_directory(args.dir)
    if not args.no_serve and not port_is_free(args.host, args.port):
        print(f"ledger: port {args.port} on {args.host} is in use; choose another with --port", file=sys.stderr)
        return 2
    demo = build_demo(directory)
    practitioner, inquiry = issue_demo_tokens(demo)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/"
    print(describe(demo, url, practitioner, inquiry), flush=True)
    if args.no_serve:
        return 0
    print(f"Serving on {url} - press Ctrl-C to stop.", flush=True)
    uvicorn.run(create_app(demo.settings), host=args.host, port=args.port, log_level="warning")
    return 0
