"""The public transparency portal: a read-only read model of the public-level events."""
