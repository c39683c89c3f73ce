"""How the monitor is reached: the faust stream that brings every record in, the
dashboard and its JSON API (web/), the Prometheus figures and the ops command line."""
