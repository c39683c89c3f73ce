"""Intake's pure rules and models: input forms, policy checks, addresses, links, account
names, the accepted submission and its event, and reading mail. No I/O."""
