"""The `hub` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.settings import Settings

if TYPE_CHECKING:
    from connectors.hooks import CommandHandler
    from hub.store.db import Database

EXIT_PROBLEMS = 2


def _settings() -> Settings:
    return Settings.from_env()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# --- run / web / worker / migrate ------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from hub import memory_trim
    from hub.logs import configure
    from hub.runtime import read_sandbox_urls
    from hub.supervisor import RunOptions, StartFailed, Supervisor, banner

    # `hub run` is the workstation command: development (sandboxes, generated secrets) unless
    # the environment says otherwise (HUB_ENV=production, or HUB_REQUIRE_LIVE=1).
    os.environ.setdefault("HUB_ENV", "development")
    settings = _settings()
    configure("text" if sys.stderr.isatty() else settings.log_format, settings.log_level)
    options = RunOptions(args.host, args.port, args.web_workers, args.workers)
    supervisor = Supervisor(settings, options)
    supervisor.catch_signals()
    try:
        config = supervisor.start()
    except StartFailed as exc:
        supervisor.stop()
        print(f"hub run: {exc}", file=sys.stderr)
        return 1
    except BaseException:
        supervisor.stop()
        raise
    print(banner(settings, config, options, read_sandbox_urls(settings.data_dir)), flush=True)
    # This process serves the sandbox fakes for as long as the hub runs.
    memory_trim.start()
    return supervisor.wait()


def cmd_worker(args: argparse.Namespace) -> int:
    from hub import lifeline, metrics_dir
    from hub.logs import configure

    lifeline.stop_with_supervisor()
    settings = _settings()
    # Before prometheus_client is imported: its samples go where /metrics reads them.
    metrics_dir.configure(settings.data_dir, clean=True)
    from hub.worker import run_worker

    configure(settings.log_format, settings.log_level)
    run_worker(
        settings,
        burst=args.burst,
        dispatch=not args.no_dispatch,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
    )
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    """Replace this process with gunicorn serving the hub (container and service-unit entry)."""
    from hub.runtime import load_hub_config
    from hub.supervisor import web_command

    if not Path("wsgi.py").is_file():
        print(
            "hub web: run it from the directory holding wsgi.py (the project or image root)", file=sys.stderr
        )
        return EXIT_PROBLEMS
    # Refuse here, in one line, what every gunicorn worker would otherwise refuse with a traceback.
    settings = _settings()
    load_hub_config(settings, generate_secrets=False)
    command = web_command(args.host, args.port, args.web_workers, "wsgi:create()")
    os.execv(command[0], command)  # noqa: S606 - the command is built from our own settings


def cmd_migrate(args: argparse.Namespace) -> int:
    from hub.store.db import Database

    db = Database(_settings().database_url)
    try:
        if args.status:
            current, head, pending = db.schema_status()
            print(f"current revision: {current or 'none (empty database)'}")
            print(f"newest revision:  {head}")
            print(f"pending: {', '.join(pending) if pending else 'none'}")
            return 0
        if args.downgrade_to:
            before, after = db.downgrade(args.downgrade_to)
            print(f"downgraded from {before} to {after or 'an empty schema'}")
            return 0
        applied = db.migrate()
    finally:
        db.dispose()
    if applied:
        print(f"applied {len(applied)} revision(s): {', '.join(applied)}")
    else:
        print("database schema is current; nothing to apply")
    return 0


# --- check / normalize / preview ---------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from hub.check import check_offline, check_online

    settings = _settings()
    config, report = check_offline(settings, generate_secrets=False)
    if config is not None and report.ok and args.online:
        runtime, fakes = _runtime_with_fakes(settings)
        try:
            check_online(runtime, report)
        finally:
            runtime.close()
            for fake in fakes:
                fake.stop()
    for note in report.notes:
        print(f"note: {note}")
    if not report.ok:
        print(f"{len(report.problems)} problem(s):", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    assert config is not None
    print(f"{config.path}: ok ({len(config.sources)} sources, {len(config.destinations)} destinations)")
    return 0


def _runtime_with_fakes(settings: Settings) -> tuple[Any, list[Any]]:
    """A runtime whose sandbox destinations talk to fakes started here (for check and preview)."""
    from hub.local_server import start_sandboxes
    from hub.runtime import Runtime, load_hub_config
    from hub.store.db import Database

    config = load_hub_config(settings, generate_secrets=False)
    fakes, urls = start_sandboxes(config.destinations.values())
    redis_url = settings.redis_url or "redis://127.0.0.1:1/0"
    runtime = Runtime(settings, config, Database(settings.database_url), redis_url, urls)
    return runtime, fakes


def cmd_normalize(args: argparse.Namespace) -> int:
    from hub.core.errors import ConfigError, NotACall, ParseError
    from hub.core.events import dump_event
    from hub.samples import request_from_file
    from webhooks import registry
    from webhooks.base import SourceSettings

    settings = _settings()
    region, options, source_id = "US", {}, args.source or args.provider
    if args.source:
        from hub.runtime import load_hub_config

        source = load_hub_config(settings, generate_secrets=False).sources.get(args.source)
        if source is None:
            print(f"hub normalize: no source {args.source!r} in {settings.config_path}", file=sys.stderr)
            return EXIT_PROBLEMS
        region, options = source.default_region, dict(source.options)
    try:
        provider = registry.create(
            args.provider, SourceSettings(source_id, region, options), settings.mappings_dir
        )
        request = request_from_file(Path(args.file), f"http://localhost/webhooks/{source_id}")
        events = provider.normalize(request)
    except NotACall as exc:
        # Not an error: the hub records such a delivery as ignored, with this reason.
        print(f"hub normalize: {args.file}: ignored ({exc.reason}): {exc.message}", file=sys.stderr)
        _print_json({"ignored": True, "reason": exc.reason, "message": exc.message})
        return 0
    except (ParseError, ConfigError, OSError) as exc:
        print(f"hub normalize: {args.file}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return EXIT_PROBLEMS
    dumped = [dump_event(event) for event in events]
    for event in events:
        for warning in event.warnings:
            print(f"hub normalize: {args.file}: warning: {warning}", file=sys.stderr)
    _print_json(dumped[0] if len(dumped) == 1 else dumped)
    return 0


def cmd_providers(args: argparse.Namespace) -> int:
    from hub.provider_fields import default_fixtures, markdown, measure_all

    settings = _settings()
    fixtures = Path(args.fixtures) if args.fixtures else default_fixtures(Path(__file__).resolve().parents[1])
    rows = measure_all(fixtures, settings.mappings_dir)
    print(f"Normalized fields each provider fills, measured on the payloads in {fixtures}")
    print("(k/n: filled in k of n call payloads; - : never)\n")
    print(markdown(rows), end="")
    skipped = [
        f"{row.slug}: {row.ignored} not calls, {row.failed} unreadable"
        for row in rows
        if row.ignored or row.failed
    ]
    if skipped:
        print("\nNot counted: " + "; ".join(skipped))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from hub.preview import PreviewProblem, preview_candidate, preview_file, since_time

    settings = _settings()
    try:
        if args.mapping:
            if args.destination == "all":
                raise PreviewProblem("--mapping compares one destination's deliveries: name the destination")
            report = preview_candidate(settings, args.destination, Path(args.mapping), since_time(args.since))
            _print_candidate_report(report)
            return 0
        if not args.file:
            raise PreviewProblem(
                "give a FILE to preview, or --mapping FILE [--since 7d] to re-render stored calls"
            )
        _print_json(preview_file(settings, args.destination, Path(args.file), args.source))
    except PreviewProblem as exc:
        print(f"hub preview: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    return 0


def _print_candidate_report(report: dict[str, Any]) -> None:
    for change in report["changes"]:
        where = f"{change.get('source')}:{change.get('provider_call_id')}"
        print(
            f"call {change['call_id']} ({where}), delivery {change['delivery_id']} [{change.get('status')}]"
        )
        for line in change["lines"]:
            print(f"  {line}")
    print(
        f"{report['calls_changed']} of {report['calls_compared']} calls delivered to {report['destination']} "
        f"since {report['since']} would be sent differently with {report['candidate']}"
    )


# --- replay / send-samples -------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    from hub.replay import DeliveryFilter, ReplayRefused, check_selection, replay_deliveries, replay_receipts
    from hub.runtime import load_hub_config
    from hub.store.db import Database
    from hub.time_filters import TimeFilterError, parse_optional

    settings = _settings()
    try:
        config = load_hub_config(settings, generate_secrets=False)
        since = parse_optional(args.since, name="--since")
        until = parse_optional(args.until, name="--until")
        _known(args.destination, config.destinations, "destination")
        _known(args.source, config.sources, "source")
    except TimeFilterError as exc:
        print(f"hub replay: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except _UnknownName as exc:
        print(f"hub replay: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    db = Database(settings.database_url)
    try:
        if args.receipts:
            statuses = set(args.status or ("failed",))
            if not statuses <= {"failed", "refused"}:
                print("hub replay: with --receipts, --status is failed or refused", file=sys.stderr)
                return EXIT_PROBLEMS
            if "failed" in statuses:
                ids = replay_receipts(db, source=args.source)
                print(f"{len(ids)} stored deliveries queued to be parsed again")
            if "refused" in statuses:
                return _reverify_refused(settings, db, args.source)
            return 0
        selection = DeliveryFilter(
            statuses=tuple(args.status or ("rejected", "failed", "held")),
            destination=args.destination,
            reason=args.reason,
            since=since,
            until=until,
            ids=tuple(args.id or ()),
        )
        check_selection(db, selection)
        replayed = replay_deliveries(db, selection)
    except ReplayRefused as exc:
        print(f"hub replay: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        db.dispose()
    print(f"{len(replayed)} deliveries queued again")
    return 0


def _reverify_refused(settings: Settings, db: Database, source: str | None) -> int:
    from hub.refusals import reverify
    from hub.runtime import Runtime, load_hub_config

    # Re-verifying needs the secrets and providers, never Redis: the dispatcher queues what passes.
    runtime = Runtime(
        settings, load_hub_config(settings, generate_secrets=False), db, settings.redis_url or ""
    )
    result = reverify(runtime, source=source)
    print(
        f"{len(result.accepted)} refused deliveries verify with the current secrets and are queued to be "
        f"parsed; {len(result.duplicates)} were received again meanwhile; "
        f"{len(result.still_refused)} still refused"
    )
    return 0


class _UnknownName(ValueError):
    pass


def _known(name: str | None, known: Any, what: str) -> None:
    """A filter naming something hub.yaml does not know matches nothing: say so instead."""
    if name is not None and name not in known:
        choices = ", ".join(sorted(known)) or "none configured"
        raise _UnknownName(f"no {what} {name!r} in hub.yaml (known: {choices})")


def cmd_send_samples(args: argparse.Namespace) -> int:
    from hub.send_samples import NoHubFound, hub_url, send_samples

    settings = _settings()
    try:
        url = hub_url(settings, args.url)
    except NoHubFound as exc:
        print(f"hub send-samples: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    results = send_samples(settings, url, sources=args.source)
    for line in results.lines:
        print(line)
    return 0 if results.ok else 1


# --- prune / forget / backup ------------------------------------------------------------------


def cmd_prune(args: argparse.Namespace) -> int:
    from hub.audit import cli_actor
    from hub.prune import prune
    from hub.runtime import load_hub_config
    from hub.store.db import Database

    settings = _settings()
    retention = load_hub_config(settings, generate_secrets=False).retention
    db = Database(settings.database_url)
    try:
        report = prune(db, retention, actor=cli_actor())
    finally:
        db.dispose()
    print("removed (per hub.yaml retention):")
    for line in report.lines():
        print(f"  {line}")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from hub.audit import cli_actor
    from hub.erasure import NotAPhoneNumber, forget
    from hub.store.db import Database

    db = Database(_settings().database_url)
    try:
        report = forget(db, args.phone, actor=cli_actor(), region=args.region)
    except NotAPhoneNumber as exc:
        print(f"hub forget: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        db.dispose()
    print(f"forgot the caller (tombstone {report.number_hash[:12]}...); removed:")
    for line in report.lines():
        print(f"  {line}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from hub.backup import BackupRefused, backup

    try:
        result = backup(_settings(), Path(args.directory))
    except BackupRefused as exc:
        print(f"hub backup: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"database: {result.database}")
    if result.secrets is not None:
        print(
            f"generated secrets: {result.secrets}  (keep it secret: it holds the admin token and source secrets)"
        )
    return 0


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub", description="callhub: call-tracking webhooks in, CRM and analytics out"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="run the hub (web, workers, embedded Redis and sandboxes) until Ctrl-C"
    )
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--web-workers", type=int, default=2)
    run.add_argument("--workers", type=int, default=2)
    run.set_defaults(func=cmd_run)

    web = commands.add_parser("web", help="serve webhooks and the admin API with gunicorn (production)")
    web.add_argument("--host", default="0.0.0.0")
    web.add_argument("--port", type=int, default=8000)
    web.add_argument("--web-workers", type=int, default=2)
    web.set_defaults(func=cmd_web)

    worker = commands.add_parser("worker", help="run one worker process (needs REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="drain the queues, then exit")
    worker.add_argument("--no-dispatch", action="store_true", help="never act as the dispatcher")
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics on this port (this machine's workers and the database gauges)",
    )
    worker.add_argument("--metrics-host", default="0.0.0.0", help="address for --metrics-port")
    worker.set_defaults(func=cmd_worker)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--status", action="store_true", help="show current and pending revisions only")
    migrate.add_argument(
        "--downgrade-to",
        metavar="REVISION",
        help="undo newer revisions (run with the newer version, before installing the older one)",
    )
    migrate.set_defaults(func=cmd_migrate)

    check = commands.add_parser("check", help="validate hub.yaml, provider definitions and mappings")
    check.add_argument(
        "--online", action="store_true", help="also prove credentials and lint against live schemas"
    )
    check.set_defaults(func=cmd_check)

    normalize = commands.add_parser(
        "normalize", help="print the normalized event(s) of a provider payload file"
    )
    normalize.add_argument("provider")
    normalize.add_argument("file")
    normalize.add_argument("--source", help="source id whose default region and options apply")
    normalize.set_defaults(func=cmd_normalize)

    providers = commands.add_parser(
        "providers", help="which normalized fields each provider fills (caller, times, gclid, GA ids, ...)"
    )
    providers.add_argument(
        "--fixtures", help="folder of <provider>/ payload folders (default: the project's fixtures)"
    )
    providers.set_defaults(func=cmd_providers)

    preview = commands.add_parser(
        "preview", help="print what destinations would be sent for an event, sending nothing"
    )
    preview.add_argument("destination", help="a destination id, or 'all'")
    preview.add_argument(
        "file",
        nargs="?",
        help="a normalized event (as hub normalize prints it), a list of them, or a provider payload with --source",
    )
    preview.add_argument("--source", help="FILE is this source's provider payload: normalize it first")
    preview.add_argument(
        "--mapping", help="candidate mapping file: re-render stored calls and show what would change"
    )
    preview.add_argument(
        "--since",
        default="7d",
        help="with --mapping: calls delivered since (7d, 12h, yesterday or an ISO time)",
    )
    preview.set_defaults(func=cmd_preview)

    replay = commands.add_parser("replay", help="queue rejected, failed or held deliveries again")
    replay.add_argument("--destination")
    replay.add_argument(
        "--status",
        action="append",
        choices=["rejected", "failed", "held", "skipped", "delivered", "refused"],
        help="deliveries: rejected, failed, held, skipped, delivered; with --receipts: failed or refused",
    )
    replay.add_argument("--reason")
    replay.add_argument("--since", help="ISO 8601 time, 90m, 2h, 7d, today or yesterday")
    replay.add_argument("--until", help="ISO 8601 time, 90m, 2h, 7d, today or yesterday")
    replay.add_argument("--id", action="append", help="a delivery id (repeatable)")
    replay.add_argument(
        "--receipts",
        action="store_true",
        help="re-parse stored deliveries that failed to parse (--status refused: re-verify refused "
        "ones with the current secrets, then parse those that pass)",
    )
    replay.add_argument("--source", help="with --receipts: only this source")
    replay.set_defaults(func=cmd_replay)

    samples = commands.add_parser(
        "send-samples", help="post the bundled sample calls, re-dated and signed, to a hub"
    )
    samples.add_argument(
        "--url", help="the hub's base URL (default: the `hub run` serving from this data directory)"
    )
    samples.add_argument("--source", action="append", help="only these source ids (repeatable)")
    samples.set_defaults(func=cmd_send_samples)

    prune = commands.add_parser("prune", help="delete stored data older than hub.yaml's retention allows")
    prune.set_defaults(func=cmd_prune)

    forget = commands.add_parser(
        "forget", help="erase a caller's calls, versions, deliveries and attempts (any phone format)"
    )
    forget.add_argument("phone", help="the caller's number, e.g. +14705550183 or (470) 555-0183")
    forget.add_argument("--region", default="US", help="country for numbers without a country code")
    forget.set_defaults(func=cmd_forget)

    backup = commands.add_parser(
        "backup", help="copy the SQLite database (online) and generated secrets into DIRECTORY"
    )
    backup.add_argument("directory")
    backup.set_defaults(func=cmd_backup)

    from hub.console.cli import register as register_console_commands

    register_console_commands(commands)

    _register_connector_commands(commands)
    return parser


def _register_connector_commands(commands: Any) -> None:
    """Connectors may add their own commands (`hub <type> ...`) in connectors/<type>/cli.py."""
    from connectors import registry

    registry.register_commands(commands)


def run_connector_command(args: argparse.Namespace, handler: CommandHandler) -> int:
    """Run a connector's command with what the hub offers it: hub.yaml, mappings, the delivery store."""
    from hub.connector_services import StoreServices
    from hub.core.errors import ConfigError
    from hub.runtime import load_hub_config, read_sandbox_urls
    from hub.store.db import Database

    settings = _settings()
    try:
        config = load_hub_config(settings, generate_secrets=False)
        services = StoreServices(
            config, Database(settings.database_url), read_sandbox_urls(settings.data_dir)
        )
        try:
            return handler(args, services)
        finally:
            services.close()
    except ConfigError as exc:
        print(f"hub {args.command}: " + "\n  ".join(exc.problems), file=sys.stderr)
        return EXIT_PROBLEMS


def main(argv: Sequence[str] | None = None) -> int:
    from hub.operator_errors import explain

    args = build_parser().parse_args(argv)
    try:
        handler: CommandHandler | None = getattr(args, "connector_command", None)
        if handler is not None:
            return run_connector_command(args, handler)
        return int(args.func(args) or 0)
    except Exception as exc:
        # Operator mistakes (a missing variable, an unreachable database or Redis) get one line
        # saying what to do; anything not recognised is a bug and keeps its traceback.
        explanation = explain(exc)
        if explanation is None:
            raise
        print(f"hub {args.command}: {explanation}", file=sys.stderr)
        return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
