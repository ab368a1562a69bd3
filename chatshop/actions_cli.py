"""`chatshop actions serve`: the bot's dialogue actions as a Rasa action server (rasa_sdk on sanic).

A store running Rasa points its endpoints.yml `action_endpoint` at http://HOST:PORT/webhook; the
server runs the very action instances the bot runs in-process.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from chatshop.settings import Settings, SettingsError

log = logging.getLogger("chatshop")


def add_actions_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    actions = commands.add_parser("actions", parents=[common], help="the dialogue actions for a Rasa server")
    actions_commands = actions.add_subparsers(dest="actions_command", required=True)
    serve = actions_commands.add_parser("serve", parents=[common], help="serve POST /webhook, GET /health, /actions")
    serve.add_argument("--host", help="listen address (default: actions.host)")
    serve.add_argument("--port", type=int, help="listen port (default: actions.port, 5055)")
    serve.set_defaults(run=_serve)
    domain = actions_commands.add_parser(
        "domain", parents=[common], help="print the Rasa domain (intents, entities, slots, form) the actions expect"
    )
    domain.set_defaults(run=_print_domain)


def _print_domain(_settings: Settings, _args: argparse.Namespace) -> int:
    import yaml

    from intents.actions import DOMAIN

    print(yaml.safe_dump(DOMAIN, allow_unicode=True, sort_keys=False), end="")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from rasa_sdk.endpoint import create_app
    from rasa_sdk.executor import ActionExecutor

    from bot.actions import Store
    from chatshop.accounts import token_store, wechat_clients
    from chatshop.database import upgrade_database
    from chatshop.dialogue_setup import build_language, catalog_names
    from chatshop.pay_wiring import build_pay_client
    from storage.db import make_session_factory, open_engine

    if not settings.kb.path.exists():
        raise SettingsError(f"kb.path: {settings.kb.path} does not exist (run `chatshop seed` for the demo)")
    engine = open_engine(settings.database.url)
    try:
        upgrade_database(engine)  # idempotent; the store's actions read the store's tables
        # The store's actions (orders, products) work on the same database and WeChat accounts as the bot.
        factory = make_session_factory(engine)
        store = Store(factory=factory, pay=build_pay_client(settings),
                      wechat=wechat_clients(settings, token_store(settings, factory)),
                      mp_app_id=settings.miniprogram.app_id)
        language = build_language(settings, catalog_names(factory, settings.nlu.catalog_fallback), store)
        executor = ActionExecutor()
        for action in language.actions.values():
            executor.register_action(action)
        host, port = args.host or settings.actions.host, args.port or settings.actions.port
        log.info("serving %d actions on http://%s:%s/webhook", len(language.actions), host, port)
        app = create_app(executor, cors_origins=[])
        app.run(host=host, port=port, single_process=True, motd=False, access_log=False)
    finally:
        engine.dispose()
    return 0
