"""The mail port: what the domain needs from an email provider (EX-1: the adapter is apart)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from notifications.domain.entity import AcceptedMail, WelcomeMail


class Mailer(Protocol):
    """Sends emails, recognising a repeat by the mail's idempotency key."""

    async def send(self, mail: WelcomeMail) -> AcceptedMail:
        """Send `mail`, or return the first answer when its key was sent before.

        Raises:
            MailUnavailableError: the provider could not take it now; a later attempt may pass.
            MailRefusedError: the provider refuses it; it will refuse it again.
        """
        ...
