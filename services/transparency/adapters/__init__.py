"""The portal's store (public data only) and its rewinding of the public topic."""
