"""Assemble the sandbox: WeChat's API, the simulated customer, control endpoints and the page."""

from __future__ import annotations

from fastapi import FastAPI

from .api import build_api_router
from .config import SandboxConfig
from .control import build_control_router
from .crypto import aes_key_from
from .customer import build_customer_router
from .page import build_page_router
from .pay import build_pay
from .state import SandboxState


def check_config(config: SandboxConfig) -> None:
    """Fail at start-up, not at the first push, on a config WeChat would never issue."""
    app_ids = [a.app_id for a in config.accounts]
    if len(set(app_ids)) != len(app_ids):
        raise ValueError("sandbox accounts need distinct app_ids")
    for account in config.accounts:
        if len(account.encoding_aes_key) != 43:
            raise ValueError(f"{account.app_id}: EncodingAESKey must be 43 characters")
        aes_key_from(account.encoding_aes_key)
        if account.kind not in ("oa", "mp") or account.message_mode not in ("plain", "compat", "safe"):
            raise ValueError(f"{account.app_id}: bad kind or message_mode")
    if config.push_tries < 1 or config.push_timeout_s <= 0:
        raise ValueError("push_tries must be >= 1 and push_timeout_s > 0")


def create_sandbox_app(config: SandboxConfig) -> FastAPI:
    check_config(config)
    state = SandboxState(config)
    app = FastAPI(title="chatshop WeChat sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = state  # for in-process callers that want the state object directly
    app.include_router(build_api_router(state))
    app.include_router(build_customer_router(state))
    app.include_router(build_control_router(state))
    app.include_router(build_page_router())
    if config.pay is not None:
        app.state.pay, pay_routers = build_pay(config.pay, state)
        state.reset_hooks.append(app.state.pay.reset)
        for router in pay_routers:
            app.include_router(router)
    return app
