"""`hub users add`, `hub calls`, `hub show`, `hub deliveries`: the console's questions in a terminal."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from typing import Any

EXIT_PROBLEMS = 2


def _db() -> Any:
    from hub.settings import Settings
    from hub.store.db import Database

    return Database(Settings.from_env().database_url)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table, columns as wide as their widest cell."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_users_add(args: argparse.Namespace) -> int:
    from hub.console.passwords import WeakPassword
    from hub.console.users import save_user

    password = os.environ.get("HUB_USER_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("hub users add: set HUB_USER_PASSWORD or run it at a terminal", file=sys.stderr)
            return EXIT_PROBLEMS
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("hub users add: the passwords differ", file=sys.stderr)
            return EXIT_PROBLEMS
    db = _db()
    try:
        created = save_user(db, args.name, args.role, password, actor=f"cli:{getpass.getuser()}")
    except (WeakPassword, ValueError) as exc:
        print(f"hub users add: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        db.dispose()
    print(f"{'created' if created else 'updated'} {args.role} {args.name}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from hub.console.users import list_users

    db = _db()
    try:
        print(table(["name", "role"], [(u.name, u.role) for u in list_users(db)]))
    finally:
        db.dispose()
    return 0


def _time(value: str | None, name: str) -> Any:
    from hub.time_filters import parse_optional

    return parse_optional(value, name=name)


def cmd_calls(args: argparse.Namespace) -> int:
    from hub.queries import CallSearch, CallSearchError, search_calls
    from hub.time_filters import TimeFilterError

    try:
        search = CallSearch(
            phone=args.phone,
            call_id=args.id,
            source=args.source,
            status=args.status,
            destination=args.destination,
            since=_time(args.since, "--since"),
            until=_time(args.until, "--until"),
            limit=args.limit,
        )
    except TimeFilterError as exc:
        print(f"hub calls: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    db = _db()
    try:
        with db.read_session() as session:
            found = search_calls(session, search)
    except CallSearchError as exc:
        print(f"hub calls: --{exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        db.dispose()
    total, rows = found["total"], found["items"]
    destinations = sorted({d for row in rows for d in row["destinations"]})
    print(
        table(
            ["call", "started", "caller", "source", "status", *destinations],
            [
                (
                    r["id"],
                    (r["started_at"] or r["first_event_at"] or "")[:19],
                    r["caller_number"] or "withheld",
                    r["source"],
                    r["status"] or "",
                    *(r["destinations"].get(d, "") for d in destinations),
                )
                for r in rows
            ],
        )
    )
    print(f"{len(rows)} of {total} calls")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from hub import queries

    db = _db()
    try:
        with db.read_session() as session:
            detail = queries.call_detail(session, args.call)
            if detail is None:
                # Not a call id: a phone number in any format, or the provider's call id.
                found = queries.search_calls(session, queries.CallSearch(text=args.call))
                total, rows = found["total"], found["items"]
                if not rows:
                    print(f"hub show: no call {args.call}", file=sys.stderr)
                    return EXIT_PROBLEMS
                if total > 1:
                    print(f"{total} calls match; showing the newest (hub calls --phone lists them all)\n")
                detail = queries.call_detail(session, rows[0]["id"])
    finally:
        db.dispose()
    assert detail is not None
    print(f"call {detail['id']}  {detail['source']}:{detail['provider_call_id']}")
    print(
        f"caller {detail['caller_number'] or 'withheld'}  status {detail['status'] or '-'}  started {detail['started_at'] or '-'}"
    )
    print(f"{len(detail['versions'])} version(s) from {len(detail['receipts'])} receipt(s)\n")
    print(
        table(
            ["delivery", "destination", "status", "reason", "attempts", "records"],
            [
                (
                    d["id"],
                    d["destination"],
                    d["status"],
                    d["reason"] or "",
                    d["attempts"],
                    ", ".join(f"{k}={v}" for k, v in (d["external_ids"] or {}).items()),
                )
                for d in detail["deliveries"]
            ],
        )
    )
    for d in detail["deliveries"]:
        for a in d.get("attempt_history") or []:
            print(
                f"\n{d['destination']} attempt {a['number']}: {a['outcome']} {a['reason'] or ''} {a['message'] or ''}".rstrip()
            )
            for x in a["exchanges"]:
                print(f"  {x.get('method')} {x.get('url')} -> {x.get('status')}")
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    from hub import queries
    from hub.time_filters import TimeFilterError

    try:
        search = queries.DeliverySearch(
            status=args.status,
            destination=args.destination,
            reason=args.reason,
            since=_time(args.since, "--since"),
            until=_time(args.until, "--until"),
            limit=args.limit,
        )
    except TimeFilterError as exc:
        print(f"hub deliveries: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    db = _db()
    try:
        with db.read_session() as session:
            result = queries.search_deliveries(session, search)
    finally:
        db.dispose()
    print(
        table(
            ["delivery", "created", "destination", "status", "reason", "attempts", "call"],
            [
                (
                    d["id"],
                    (d["created_at"] or "")[:19],
                    d["destination"],
                    d["status"],
                    d["reason"] or "",
                    d["attempts"],
                    d["call_id"],
                )
                for d in result["items"]
            ],
        )
    )
    print(f"{len(result['items'])} of {result['total']} deliveries")
    return 0


def register(commands: Any) -> None:
    """Add the console's commands to the `hub` parser."""
    times = "ISO 8601 time, 90m, 2h, 7d, today or yesterday"
    users = commands.add_parser("users", help="console users")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    add = users_commands.add_parser(
        "add", help="create a console user or set a new password (HUB_USER_PASSWORD or a prompt)"
    )
    add.add_argument("name")
    add.add_argument("--role", choices=["admin", "viewer"], default="admin")
    add.set_defaults(func=cmd_users_add)
    users_list = users_commands.add_parser("list", help="list console users")
    users_list.set_defaults(func=cmd_users_list)

    calls = commands.add_parser("calls", help="find calls (by phone in any format, id, source, time)")
    calls.add_argument("--phone")
    calls.add_argument("--id", help="a call id or the provider's call id")
    calls.add_argument("--source")
    calls.add_argument("--status", help="a delivery status at any destination")
    calls.add_argument("--destination")
    calls.add_argument("--since", help=times)
    calls.add_argument("--until", help=times)
    calls.add_argument("--limit", type=int, default=50, help="at most this many, newest call first")
    calls.set_defaults(func=cmd_calls)

    show = commands.add_parser("show", help="a call with its deliveries and attempts (CALL_ID or PHONE)")
    show.add_argument("call", metavar="CALL_ID|PHONE")
    show.set_defaults(func=cmd_show)

    deliveries = commands.add_parser("deliveries", help="list deliveries with filters")
    deliveries.add_argument("--status")
    deliveries.add_argument("--destination")
    deliveries.add_argument("--reason")
    deliveries.add_argument("--since", help=times)
    deliveries.add_argument("--until", help=times)
    deliveries.add_argument("--limit", type=int, default=50)
    deliveries.set_defaults(func=cmd_deliveries)
