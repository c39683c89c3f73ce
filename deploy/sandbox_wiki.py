"""A throw-away MediaWiki (Debian's 1.39 package, SQLite, ``php -S``) for ``make run`` and tests.

Layout under ``root``::

    pristine-<fingerprint>/   built once by install(): LocalSettings.php, data/, COMPLETE
    LocalSettings.php         the live settings, rendered from the pristine one for this root/port
    data/                     the live SQLite files; reset() copies the pristine ones over them
    credentials.json          api url and the role account's bot password, for non-Python tools
    server.log                php -S output

The pristine copy can live in a shared ``cache_dir`` instead of ``root`` so that test sessions
reuse it; its directory name carries a fingerprint of the recipe below, so changing the recipe
builds a new one instead of reusing a stale one.

CLI: ``python -m deploy.sandbox_wiki --root DIR --port PORT``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple, Self

DEFAULT_MEDIAWIKI_DIR = Path("/usr/share/mediawiki")
SITE_NAME = "Sandbox Wiki"
SITE_LANGUAGE = "en"
DB_NAME = "sandboxwiki"

ROLE_ACCOUNT = "OfficeActions"
ROLE_PASSWORD = "officeactions-sandbox-password"
ROLE_GROUPS = ("sysop", "bureaucrat", "suppress")
BOT_APP_ID = "casework"
# Bot passwords must be 32+ characters of [0-9a-w].
BOT_PASSWORD = "caseworkoperatorpassword00000000"
BOT_GRANTS = (
    "basic",
    "highvolume",
    "editpage",
    "editprotected",
    "createeditmovepage",
    "blockusers",
    "delete",
    "protect",
    "oversight",
    "viewrestrictedlogs",
    "userrights",
)


@dataclass(frozen=True)
class DemoUser:
    name: str
    password: str
    groups: tuple[str, ...] = ()


DEMO_USERS = (
    DemoUser("Vandal1", "vandal1-sandbox-password"),
    DemoUser("Harasser2", "harasser2-sandbox-password"),
    DemoUser("Goodfaith3", "goodfaith3-sandbox-password"),
    DemoUser("Admin4", "admin4-sandbox-password", ("sysop",)),
    # Another administrator, for tests of changes made by someone other than the role account.
    DemoUser("Steward5", "steward5-sandbox-password", ("sysop", "bureaucrat")),
)


@dataclass(frozen=True)
class DemoBotPassword:
    user: str
    app: str
    password: str  # 32+ characters of [0-9a-w]
    grants: tuple[str, ...]


DEMO_BOT_PASSWORDS = (
    DemoBotPassword(
        "Steward5",
        "tools",
        "steward5toolspassword00000000000",
        ("basic", "blockusers", "protect", "delete", "editpage", "userrights"),
    ),
    # The role account with too few grants: a role account that lacks a right.
    DemoBotPassword(ROLE_ACCOUNT, "limited", "officeactionslimitedpassword0000", ("basic",)),
)

# Appended to the installer's LocalSettings.php.
EXTRA_SETTINGS = """
# --- casework sandbox ---
$wgEnableEmail = false;
$wgEnableUserEmail = false;
$wgCookieSecure = false;
$wgForceHTTPS = false;
$wgMainCacheType = CACHE_NONE;
$wgJobRunRate = 0;
$wgGroupPermissions['sysop']['noratelimit'] = true;
$wgGroupPermissions['bureaucrat']['noratelimit'] = true;
// 'suppress' already exists in core 1.39; make sure its rights are all there.
$wgGroupPermissions['suppress']['hideuser'] = true;
$wgGroupPermissions['suppress']['suppressrevision'] = true;
$wgGroupPermissions['suppress']['viewsuppressed'] = true;
$wgGroupPermissions['suppress']['suppressionlog'] = true;
$wgGroupPermissions['suppress']['deleterevision'] = true;
$wgGroupPermissions['suppress']['deletelogentry'] = true;
// Core has no grant for userrights, and the oversight grant lacks hideuser (block hidename).
$wgGrantPermissions['userrights']['userrights'] = true;
$wgGrantPermissionGroups['userrights'] = 'administration';
$wgGrantPermissions['oversight']['hideuser'] = true;
$wgGrantPermissions['oversight']['suppressionlog'] = true;
"""

_RECIPE_VERSION = 1
_MARKER = "COMPLETE"
_SERVER_LINE = re.compile(r"^\$wgServer = .*;$", re.MULTILINE)
_DATA_DIR_LINE = re.compile(r"^\$wgSQLiteDataDir = .*;$", re.MULTILINE)


class BotCredentials(NamedTuple):
    username: str
    password: str


class SandboxWikiError(RuntimeError):
    """The sandbox wiki could not be installed or started."""


class SandboxWiki:
    def __init__(
        self,
        root: Path,
        port: int,
        *,
        cache_dir: Path | None = None,
        mediawiki_dir: Path = DEFAULT_MEDIAWIKI_DIR,
        php: str = "php",
        workers: int = 4,
    ) -> None:
        self.root = Path(root).resolve()
        self.port = port
        self.mediawiki_dir = mediawiki_dir
        self.php = php
        self.workers = workers
        self.pristine_dir = (cache_dir or self.root).resolve() / f"pristine-{_fingerprint(self)}"
        self.settings_path = self.root / "LocalSettings.php"
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api.php"

    @property
    def index_url(self) -> str:
        return f"{self.url}/index.php"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def credentials(self) -> BotCredentials:
        return BotCredentials(f"{ROLE_ACCOUNT}@{BOT_APP_ID}", BOT_PASSWORD)

    def demo_credentials(self, user: str, app: str) -> BotCredentials:
        """A demo bot password (DEMO_BOT_PASSWORDS), e.g. another administrator's."""
        bot = next(b for b in DEMO_BOT_PASSWORDS if (b.user, b.app) == (user, app))
        return BotCredentials(f"{bot.user}@{bot.app}", bot.password)

    # --- install / reset -------------------------------------------------------------------

    def install(self) -> None:
        """Build the pristine copy if needed, render live settings, create live data if absent."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._ensure_pristine()
        self._render_settings()
        if not (self.data_dir / f"{DB_NAME}.sqlite").is_file():
            self.reset()
        username, password = self.credentials()
        creds = {"api_url": self.api_url, "username": username, "password": password}
        _write_atomically(self.root / "credentials.json", json.dumps(creds, indent=2) + "\n")

    def reset(self) -> None:
        """Put the pristine data back. Safe while the server runs, between requests."""
        source = self.pristine_dir / "data"
        if not (self.pristine_dir / _MARKER).is_file():
            raise SandboxWikiError("reset() before install(): no pristine copy")
        wanted: set[Path] = set()
        for src in source.rglob("*"):
            rel = src.relative_to(source)
            wanted.add(rel)
            dst = self.data_dir / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            # Replace by rename: a worker that still has the old file open keeps its inode.
            tmp = dst.with_name(f".{dst.name}.tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        # Drop leftovers (sqlite journals, files created since) so they cannot apply to new data.
        for path in sorted(self.data_dir.rglob("*"), reverse=True):
            if path.relative_to(self.data_dir) not in wanted:
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def maintenance(self, script: str, *args: str) -> str:
        """Run a maintenance script (e.g. ``createAndPromote.php``) against the live wiki."""
        return self._run_php(script, *args, settings=self.settings_path)

    def _ensure_pristine(self) -> None:
        if self._pristine_complete():
            return
        self.pristine_dir.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.pristine_dir.with_name(self.pristine_dir.name + ".lock")):
            if self._pristine_complete():
                return
            staging = Path(tempfile.mkdtemp(prefix=".building-", dir=self.pristine_dir.parent))
            try:
                self._build(staging)
                if self.pristine_dir.exists():
                    shutil.rmtree(self.pristine_dir)
                staging.rename(self.pristine_dir)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def _pristine_complete(self) -> bool:
        return all(
            (self.pristine_dir / name).is_file()
            for name in (_MARKER, "LocalSettings.php", f"data/{DB_NAME}.sqlite")
        )

    def _build(self, staging: Path) -> None:
        settings = staging / "LocalSettings.php"
        self._run_php(
            "install.php",
            "--dbtype=sqlite",
            f"--dbpath={staging / 'data'}",
            f"--dbname={DB_NAME}",
            f"--server={self.url}",
            "--scriptpath=",
            f"--confpath={staging}",
            f"--lang={SITE_LANGUAGE}",
            "--skins=Vector",
            f"--pass={ROLE_PASSWORD}",
            SITE_NAME,
            ROLE_ACCOUNT,
            settings=None,
        )
        with settings.open("a", encoding="utf-8") as f:
            f.write(EXTRA_SETTINGS)
        groups = ",".join(ROLE_GROUPS)
        self._run_php(
            "createAndPromote.php",
            "--force",
            f"--custom-groups={groups}",
            ROLE_ACCOUNT,
            settings=settings,
        )
        for user in DEMO_USERS:
            extra = [f"--custom-groups={','.join(user.groups)}"] if user.groups else []
            self._run_php(
                "createAndPromote.php", *extra, user.name, user.password, settings=settings
            )
        self._run_php(
            "createBotPassword.php",
            f"--appid={BOT_APP_ID}",
            f"--grants={','.join(BOT_GRANTS)}",
            ROLE_ACCOUNT,
            BOT_PASSWORD,
            settings=settings,
        )
        for bot in DEMO_BOT_PASSWORDS:
            self._run_php(
                "createBotPassword.php",
                f"--appid={bot.app}",
                f"--grants={','.join(bot.grants)}",
                bot.user,
                bot.password,
                settings=settings,
            )
        (staging / _MARKER).write_text(_fingerprint(self) + "\n", encoding="utf-8")

    def _render_settings(self) -> None:
        text = (self.pristine_dir / "LocalSettings.php").read_text(encoding="utf-8")
        text = _replace_line(text, _SERVER_LINE, f"$wgServer = {_php_string(self.url)};")
        data_dir = _php_string(str(self.data_dir))
        text = _replace_line(text, _DATA_DIR_LINE, f"$wgSQLiteDataDir = {data_dir};")
        _write_atomically(self.settings_path, text)

    def _run_php(self, script: str, *args: str, settings: Path | None) -> str:
        env = dict(os.environ)
        env.pop("MW_CONFIG_FILE", None)
        if settings is not None:
            env["MW_CONFIG_FILE"] = str(settings)
        cmd = [self.php, str(self.mediawiki_dir / "maintenance" / script), *args]
        proc = subprocess.run(
            cmd, env=env, cwd=self.root, capture_output=True, text=True, timeout=300, check=False
        )
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr)[-4000:]
            raise SandboxWikiError(f"{' '.join(cmd)} exited {proc.returncode}:\n{output}")
        return proc.stdout

    # --- server ----------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        if not self.settings_path.is_file():
            raise SandboxWikiError(f"start() before install(): no {self.settings_path}")
        env = dict(os.environ)
        env["MW_CONFIG_FILE"] = str(self.settings_path)
        env["PHP_CLI_SERVER_WORKERS"] = str(self.workers)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [self.php, "-S", f"127.0.0.1:{self.port}", "-t", str(self.mediawiki_dir)],
            env=env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None:
                self._fail(f"php -S exited with status {self._process.returncode}")
            if time.monotonic() > deadline:
                self._fail(f"api.php did not answer within {timeout:.0f}s")
            time.sleep(0.05)
        # Something else may hold the port and answer for us; php -S exits at once then.
        if self._process.poll() is not None:
            self._fail(f"php -S exited with status {self._process.returncode}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _kill_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(process, signal.SIGKILL)
                process.wait()
            # Workers are children of the main server; make sure none outlives it.
            _kill_group(process, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _answers(self) -> bool:
        url = f"{self.api_url}?action=query&meta=siteinfo&format=json&formatversion=2"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = json.load(response)
        except (OSError, ValueError):
            return False
        return bool(body.get("query", {}).get("general", {}).get("sitename") == SITE_NAME)

    def _fail(self, reason: str) -> None:
        self.stop()
        log = self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise SandboxWikiError(f"sandbox wiki on {self.url}: {reason}; server output:\n{log}")

    def __enter__(self) -> Self:
        self.install()
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _fingerprint(wiki: SandboxWiki) -> str:
    defines = wiki.mediawiki_dir / "includes" / "Defines.php"
    version = defines.read_text(encoding="utf-8") if defines.is_file() else "unknown"
    match = re.search(r"define\( 'MW_VERSION', '([^']+)' \)", version)
    recipe = repr(
        (
            _RECIPE_VERSION,
            match.group(1) if match else version,
            SITE_NAME,
            SITE_LANGUAGE,
            DB_NAME,
            ROLE_ACCOUNT,
            ROLE_PASSWORD,
            ROLE_GROUPS,
            BOT_APP_ID,
            BOT_PASSWORD,
            BOT_GRANTS,
            DEMO_USERS,
            DEMO_BOT_PASSWORDS,
            EXTRA_SETTINGS,
        )
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def _replace_line(text: str, pattern: re.Pattern[str], line: str) -> str:
    matches = list(pattern.finditer(text))
    if len(matches) != 1:
        raise SandboxWikiError(f"expected one {pattern.pattern!r} line, found {len(matches)}")
    start, end = matches[0].span()
    return text[:start] + line + text[end:]


def _php_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.sandbox_wiki", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("/tmp/casework-sandbox-wiki"))
    parser.add_argument("--port", type=int, default=8180)
    parser.add_argument("--reset", action="store_true", help="start from pristine data")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    wiki = SandboxWiki(args.root, args.port)
    wiki.install()
    if args.reset:
        wiki.reset()
    with wiki:
        username, password = wiki.credentials()
        print(f"{SITE_NAME} running at {wiki.url}/index.php (API {wiki.api_url})")
        print(f"  role account {ROLE_ACCOUNT} / {ROLE_PASSWORD} (groups: {', '.join(ROLE_GROUPS)})")
        print(f"  bot login    {username} / {password}")
        for user in DEMO_USERS:
            groups = f" (groups: {', '.join(user.groups)})" if user.groups else ""
            print(f"  demo user    {user.name} / {user.password}{groups}")
        print(f"  server log   {wiki.log_path}; Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            if not wiki.running:
                print("php -S exited unexpectedly; see the server log", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
