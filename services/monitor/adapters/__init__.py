"""What the monitor reads and writes beyond the kernel: the alert book (store and outbox),
the broker reads of the CLI, consumer lag through the admin API, and its text files."""
