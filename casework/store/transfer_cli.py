"""The command line of ``python -m casework.store.transfer`` (its usage is that module's
docstring)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from casework.store import StoreError, redact_url, transfer
from casework.store.dump import DumpError
from casework.store.transfer import (
    TransferError,
    copy_store,
    export_all,
    export_store,
    import_all,
    import_dump,
    service_urls,
)

_STOPPED = (
    "Stop the services first: what they write after the export is not in the dump (a SQLite"
    " export is one read transaction and fails if the file is written to meanwhile)."
)
_IMPORT = (
    "The target must hold no documents in the dumped collections; every dump is checked"
    " before anything is written, and the target is read back and compared. Indexes are"
    " not copied: each service creates its own when it starts."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m casework.store.transfer",
        description=transfer.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("export", help="one store to a dump file", description=_STOPPED)
    one.add_argument("--from", dest="source", required=True, metavar="URL")
    one.add_argument("--to", dest="target", required=True, type=Path, metavar="FILE")
    one = commands.add_parser(
        "import", help="a dump file into one empty store", description=_IMPORT
    )
    one.add_argument("--from", dest="source", required=True, type=Path, metavar="FILE")
    one.add_argument("--to", dest="target", required=True, metavar="URL")
    one = commands.add_parser(
        "copy", help="one store into another, empty one", description=f"{_STOPPED} {_IMPORT}"
    )
    one.add_argument("--from", dest="source", required=True, metavar="URL")
    one.add_argument("--to", dest="target", required=True, metavar="URL")
    every = commands.add_parser(
        "export-all", help="every service's store to DIR/<service>.jsonl", description=_STOPPED
    )
    _backend(every, "from")
    every.add_argument("--to", dest="target", required=True, type=Path, metavar="DIR")
    every = commands.add_parser(
        "import-all", help="DIR/<service>.jsonl into every service's store", description=_IMPORT
    )
    every.add_argument("--from", dest="source", required=True, type=Path, metavar="DIR")
    _backend(every, "to")
    return parser


def _backend(parser: argparse.ArgumentParser, side: str) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"{side} the SQLite files DIR/<service>.sqlite3 (CASEWORK_DATA_DIR)",
    )
    group.add_argument(
        "--mongodb-uri",
        metavar="URI",
        help=f"{side} the databases casework_<service> on this server (MONGODB_URI)",
    )


async def _run(args: argparse.Namespace) -> list[str]:
    if args.command == "export":
        return (await export_store(args.source, args.target)).lines(f"exported to {args.target}")
    if args.command == "import":
        summary = await import_dump(args.source, args.target)
        return summary.lines(f"imported into {redact_url(args.target)} and verified")
    if args.command == "copy":
        summary = await copy_store(args.source, args.target)
        return summary.lines(f"copied into {redact_url(args.target)} and verified")
    urls = service_urls(data_dir=args.data_dir, mongodb_uri=args.mongodb_uri)
    if args.command == "export-all":
        done = await export_all(urls, args.target)
        return [line for s, m in done.items() for line in m.lines(f"{s}: exported")]
    if args.data_dir is not None:
        transfer.make_dir(args.data_dir)
    done = await import_all(args.source, urls)
    return [line for s, m in done.items() for line in m.lines(f"{s}: imported and verified")]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        lines = asyncio.run(_run(args))
    except (TransferError, DumpError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code if isinstance(exc, TransferError) else 1
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0
