"""The notification package's exceptions::

    NotifyError
     ├── UnknownLanguage            a language the text catalogue (kawamori/texts) does not have
     ├── NotForResidents            a staff-only alert kind was given to a resident channel
     ├── NotPublicError             the hard guard: an Exercise/Test message on a public channel
     ├── ChannelConfigError         a channel's settings are unusable (e.g. a bad VAPID key)
     ├── InvalidSignature           a webhook's signature does not match its body
     ├── SubscriberKeyError         no subscriber key, or one that is not 32 bytes of base64
     ├── SealError                  a sealed address does not open (other key, other row, altered)
     └── SubscriptionError          a subscription request that cannot be honoured
          ├── InvalidAddress        the address is not one of the channel's form
          ├── UnknownArea           an alert area that does not exist
          └── OutsideAreas          a point inside none of the alert areas

A failed *delivery* is not an exception: notifiers return a
:class:`notify.channels.base.Result` that says whether to retry. Third-party errors
(libcurl, smtplib, http_ece) are translated into results at the channel boundary.
"""

from __future__ import annotations


class NotifyError(Exception):
    """Base of every error raised by ``notify``."""


class UnknownLanguage(NotifyError):
    pass


class NotForResidents(NotifyError):
    pass


class NotPublicError(NotifyError):
    """An Exercise or Test message was about to go out on a public channel."""


class ChannelConfigError(NotifyError):
    pass


class InvalidSignature(NotifyError):
    pass


class SubscriberKeyError(NotifyError):
    pass


class SealError(NotifyError):
    pass


class SubscriptionError(NotifyError):
    pass


class InvalidAddress(SubscriptionError):
    pass


class UnknownArea(SubscriptionError):
    pass


class OutsideAreas(SubscriptionError):
    pass
