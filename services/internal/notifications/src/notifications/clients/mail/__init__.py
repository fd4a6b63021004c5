"""The mail API adapter: the domain's `Mailer` port over svcinfra's `ApiClient` (EX-1..EX-5)."""

from .client import MailApi, MailApiMailer

__all__ = ["MailApi", "MailApiMailer"]
