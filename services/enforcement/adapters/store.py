"""The collections enforcement keeps in its store, and the fields it queries them by."""

ENFORCEMENTS = "enforcements"  # one EnforcementRecord per case
FAILURES = "failures"  # decisions refused as unsupported, one per case
TAMPERING = "tampering"  # each tampering found, by its id (wiki:logid)
CURSORS = "watch_cursors"  # per wiki: how far its log was read
WORKING = "working"  # per case: which instance is making its wiki calls (casework.claims)

ENFORCEMENT_INDEXES = ("complete", "ending_open", "expiry_open", "ending")
