"""The message roles as the composition root runs them: factories for the supervisor."""

from __future__ import annotations

from dispatch.config import InboxSettings, WebhookSettings
from dispatch.inbox import InboxRole
from dispatch.webhook import WebhookRole
from infra.clock import SYSTEM_CLOCK, Clock
from infra.publisher import MqttPublisher
from infra.roles import RoleFactory

__all__ = ["message_role_factories"]


def message_role_factories(
    *,
    db_url: str,
    publisher: MqttPublisher,
    topic_prefix: str,
    inbox: InboxSettings,
    webhook: WebhookSettings,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, RoleFactory]:
    """Return the factories of the ``inbox`` role and, when a URL is set, the ``webhook`` role.

    ``publisher`` is the process's outbound MQTT session: started before these roles and
    stopped after them by its owner, it outlives an inbox role the supervisor replaces.
    ``topic_prefix`` is ingest's (``FIREGRID_INGEST__TOPIC_PREFIX``): terminals publish and
    receive under one prefix, so one setting governs both.
    """
    inbox = inbox.model_copy(update={"prefix": topic_prefix})

    def make_inbox() -> InboxRole:
        return InboxRole(db_url=db_url, publisher=publisher, settings=inbox, clock=clock)

    factories: dict[str, RoleFactory] = {"inbox": make_inbox}
    if webhook.enabled:

        def make_webhook() -> WebhookRole:
            return WebhookRole(db_url=db_url, settings=webhook, clock=clock)

        factories["webhook"] = make_webhook
    return factories
