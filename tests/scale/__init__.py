"""Support for the scale-out tests (tests/test_scale_out.py) and the scale-out benchmark:
N instances of each service over one broker, wiki farm, mail sink and shared stores
(cluster.py), the case mix and what each case must leave behind (cases.py), cases driven
through intake's and review's HTTP APIs (driver.py), the effects read back from the topics,
the wikis and the Maildir (effects.py), and one run with an optional SIGKILL (run.py)."""
