"""What intake keeps in the store beyond the kernel's (rate-limit counters, answer windows,
reference keys) and the IMAP mailbox it reads."""
