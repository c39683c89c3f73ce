"""What enforcement does: enforce, end and restore decisions (``enforcer``), and watch the
wikis' logs for tampering with what it put in place (``watch``)."""

from services.enforcement.usecases.enforcer import Enforcer
from services.enforcement.usecases.watch import Watcher

__all__ = ["Enforcer", "Watcher"]
