"""The `chatshop` command: serve, db upgrade, seed."""

from __future__ import annotations

import argparse
import errno
import logging
import shutil
import socket
import sys
from pathlib import Path

from chatshop.actions_cli import add_actions_commands
from chatshop.analytics_demo import seed_demo_numbers
from chatshop.commerce_cli import add_commerce_commands, seed_demo_catalog
from chatshop.data_keys import install_data_keys
from chatshop.kb_cli import add_kb_commands
from chatshop.keys_cli import add_keys_commands
from chatshop.logs import configure_service_logging
from chatshop.nlu_cli import add_nlu_commands
from chatshop.outreach_cli import add_outreach_commands
from chatshop.settings import Settings, SettingsError, load_settings
from chatshop.staff_cli import add_staff_commands
from chatshop.tags_cli import add_tags_commands

log = logging.getLogger("chatshop")

DEMO_KB = Path(__file__).resolve().parent / "demo" / "kb.yaml"
DEMO_TAG_RULES = Path(__file__).resolve().parent / "demo" / "tag_rules.yaml"
DEMO_TEMPLATES = Path(__file__).resolve().parent / "demo" / "subscribe_templates.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    config = getattr(args, "config", None)  # absent unless given, before or after the subcommand
    try:
        settings = load_settings(Path(config) if config else None)
    except SettingsError as exc:
        print(f"chatshop: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_service_logging(settings)
    try:
        if getattr(args, "needs_data_keys", True):  # `keys new` makes them: it cannot need them
            install_data_keys(settings)
        result: int = args.run(settings, args)
        return result
    except SettingsError as exc:
        print(f"chatshop: configuration error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own default would otherwise overwrite `chatshop --config F serve`.
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="settings file (default: config.yaml next to the code)")
    parser = argparse.ArgumentParser(prog="chatshop", description=__doc__, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="migrate the database and serve HTTP")
    serve.add_argument("--host", help="listen address (default: server.host)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port)")
    serve.add_argument("--workers", type=_worker_count,
                       help="worker processes sharing the port (default: server.workers)")
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", parents=[common], help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", parents=[common], help="apply migrations").set_defaults(run=_db_upgrade)

    seed = commands.add_parser("seed", parents=[common], help="install the demo store (never overwrites)")
    seed.set_defaults(run=_seed)
    add_nlu_commands(commands, common)
    add_actions_commands(commands, common)
    add_kb_commands(commands, common)
    add_commerce_commands(commands, common)  # catalog import/export, ship, refund, stock
    add_staff_commands(commands, common)  # staff add/list/disable/token
    add_tags_commands(commands, common)  # tags check
    add_outreach_commands(commands, common)  # campaign ..., report reminders, outreach templates
    add_keys_commands(commands, common)  # keys new/status/rotate: the keys sealing personal data
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from chatshop.app import create_app
    from chatshop.workers import check_workers, exit_cleanly_after_shutdown, serve_workers

    server = settings.server.model_copy(update={
        "host": args.host or settings.server.host, "port": args.port or settings.server.port,
        "workers": args.workers or settings.server.workers,
    })
    settings = settings.model_copy(update={"server": server})
    check_workers(settings, server.workers)
    _db_upgrade(settings, args)  # once, here: the workers find the schema up to date
    _require_kb(settings)
    try:
        listening = _listen(server.host, server.port)
    except OSError as exc:
        print(f"chatshop: {_cannot_listen(server.host, server.port, exc)}", file=sys.stderr)
        return 1
    where = "the WeChat sandbox" if settings.sandbox_enabled else settings.api_base_url
    log.info("serving on http://%s:%s with %d worker process(es) (WeChat API: %s)", server.host, server.port,
             server.workers, where)
    if settings.sandbox_enabled:
        log.info("chat as a customer at %s/sandbox", settings.local_base_url)
    if server.workers > 1:
        return serve_workers(settings, listening, server.workers)
    app = create_app(settings)
    # log_config=None: uvicorn's loggers go through our handler, which masks secrets in URLs.
    config = uvicorn.Config(app, host=server.host, port=server.port, log_config=None, access_log=True,
                            timeout_graceful_shutdown=server.graceful_shutdown_s)
    exit_cleanly_after_shutdown()
    uvicorn.Server(config).run(sockets=[listening])
    return 0


def _worker_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be 1 to 64")
    return value


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before the app is built, so a taken port is reported as such
    rather than as uvicorn's bare `[Errno 98]` once everything has started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restarts reuse TIME_WAIT
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        other = port + 1 if port < 65535 else 8000
        return f"port {port} is in use; stop what uses it or run make run PORT={other} (chatshop serve --port {other})"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    from chatshop.database import upgrade_database
    from storage.db import open_engine

    engine = open_engine(settings.database.url)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    log.info("database is up to date")
    return 0


def _seed(settings: Settings, _args: argparse.Namespace) -> int:
    seed_demo_catalog(settings)  # only when the database has no catalog yet
    seed_demo_numbers(settings)  # only when it has no orders and no tracked events yet
    _install_once(DEMO_TAG_RULES, settings.tags.rules_path, "tag rules")
    _install_once(DEMO_TEMPLATES, settings.outreach.templates_path, "subscribe templates")
    target = settings.kb.path
    if target.exists():
        log.info("knowledge base %s already exists; left as it is", target)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEMO_KB, target)
    log.info("installed the demo store's knowledge base at %s", target)
    return 0


def _install_once(demo: Path, target: Path, what: str) -> None:
    if target.exists():
        log.info("%s %s already exist; left as they are", what, target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo, target)
    log.info("installed the demo store's %s at %s", what, target)


def _require_kb(settings: Settings) -> None:
    if not settings.kb.path.exists():
        raise SettingsError(f"kb.path: {settings.kb.path} does not exist (run `chatshop seed` for the demo)")


if __name__ == "__main__":
    sys.exit(main())
