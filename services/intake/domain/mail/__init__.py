"""Reading an incoming mail and mapping it to the submission it asks for. No I/O."""
