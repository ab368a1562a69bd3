"""A faithful local double of WeChat's servers (API, message push, simulated customer).

Mount create_sandbox_app(config) at /sandbox, or run it standalone under uvicorn.
"""

from .app import create_sandbox_app
from .config import SandboxAccount, SandboxConfig, SandboxRules

__all__ = ["SandboxAccount", "SandboxConfig", "SandboxRules", "create_sandbox_app"]
