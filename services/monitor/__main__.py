"""`python -m services.monitor` runs the monitor; with a command it is the ops CLI."""

import sys

if len(sys.argv) > 1:
    from services.monitor.entrypoints.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))
else:
    from casework.runtime import main
    from services.monitor.app import wire
    from services.monitor.settings import MonitorSettings

    main(MonitorSettings, wire)
