"""Review's adapters beyond the kernel's store: the staff file."""
