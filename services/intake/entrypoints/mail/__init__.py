"""The mail channel's ways in: SMTP/LMTP listeners and the IMAP poller, feeding one pipeline."""
