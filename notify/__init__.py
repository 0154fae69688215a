"""Resident notifications: message texts per language (the ``notify`` section of the
text catalogue, ``kawamori/texts``), rendering fitted to each channel (``notify.render``)
and one small notifier per channel (``notify.channels``: Web Push, LINE, e-mail, signed
gateway webhook)."""
