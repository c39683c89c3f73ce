"""Review's pure rules and models: the case file, its decision and multi-level sign-off,
deadlines, reversals, the outcome folded from other services' reports, the queue's
filters, and who staff are. No I/O: the use cases (usecases.py) load and store."""
