"""Ways in: the JSON API (with its OpenAPI document), the web form, and mail (SMTP/LMTP
listeners, an IMAP poller)."""
