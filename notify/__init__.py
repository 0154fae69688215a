"""Resident notifications: message templates per language (``notify/templates``),
rendering fitted to each channel (``notify.render``) and one small notifier per
channel (``notify.channels``: Web Push, LINE, e-mail, signed gateway webhook)."""
