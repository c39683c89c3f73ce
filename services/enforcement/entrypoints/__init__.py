"""How enforcement is reached from outside, besides its consumer: its HTTP app (``http``)."""
