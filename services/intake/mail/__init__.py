"""Intake's email channel: an SMTP/LMTP listener and an IMAP poller feeding one pipeline."""
