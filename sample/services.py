"""Real services on loopback for the cluster tests and benchmarks: a PostgreSQL server (Debian's
binaries, initdb into a temp folder) and a Ray cluster of several nodes on one machine (`ray start
--head` plus `ray start --address`, each node with its own resources and temp folder). Both are
context managers that stop exactly the processes they started."""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def instance_env(home: Path, env: dict[str, str] | None = None, **settings: Any) -> dict[str, str]:
    """A Dagster instance folder with its spatialmix.toml (`settings`) and dagster.yaml written, and the
    environment of a `spatialmix`/Dagster process using it (`env`: secrets such as the database password)."""
    from assets.deployment import write_instance_yaml
    from assets.settings import PROJECT_ROOT, Settings, save_settings

    chosen = Settings(**settings).with_paths_resolved(PROJECT_ROOT)
    save_settings(home, chosen)
    write_instance_yaml(home, chosen)
    return {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    """Debian keeps the server binaries under /usr/lib/postgresql/<major>/bin, off the PATH (the newest
    major wins); elsewhere they are found on the PATH."""
    def major(path: str) -> int:
        part = Path(path).parts[4]
        return int(part) if part.isdigit() else -1

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=major)
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise FileNotFoundError(f"PostgreSQL's {name} not found: install Debian's `postgresql` package "
                                "(scripts/system_deps.sh does)")
    return path


class LocalPostgres:
    """A throwaway PostgreSQL on 127.0.0.1 with one password-protected role and database. PostgreSQL
    refuses to run as root, so under root the server runs as the `postgres` system user."""

    def __init__(self, user: str = "dagster", db: str = "dagster", port: int = 0, password: str = "") -> None:
        """`port` and `password` name a server already running (`running_services`); entering the
        context starts a new one."""
        self.user, self.db = user, db
        self.password = password or secrets.token_urlsafe(16)
        self.port = port or free_port()
        self._root: Path | None = None  # the started server's folder (data, sockets, log)

    def _as_owner(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def settings(self) -> dict[str, str | int]:
        """The spatialmix.toml keys of the `postgres` and `ray` deployments that name this server."""
        return {"postgres_host": "127.0.0.1", "postgres_port": self.port, "postgres_user": self.user,
                "postgres_db": self.db}

    def env(self) -> dict[str, str]:
        """The one secret those deployments read from the environment."""
        return {"DAGSTER_PG_PASSWORD": self.password}

    def __enter__(self) -> "LocalPostgres":
        try:
            self._start()
            self._create_role_and_db()
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def root(self) -> Path:
        if self._root is None:
            raise RuntimeError("this PostgreSQL was not started here")
        return self._root

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "run"

    def _start(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="spatialmix-pg-"))
        self.sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        run = dict(check=True, capture_output=True, text=True, timeout=120)
        subprocess.run(self._as_owner(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                                      "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"), **run)
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        try:
            subprocess.run(self._as_owner(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                                          "-l", str(self.root / "server.log"), "-w", "start"), **run)
        except subprocess.CalledProcessError:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{log[-2000:]}") from None

    def _create_role_and_db(self) -> None:
        from psycopg2 import sql

        # The role's password goes over the socket as a literal, never into a file or a command line.
        self._superuser_sql(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(self.user), sql.Literal(self.password)))
        self._superuser_sql("CREATE DATABASE {} OWNER {}", self.db, self.user)

    def _superuser_sql(self, statement: object, *identifiers: str) -> None:
        """One statement as the superuser over the Unix socket (trust); `{}` are quoted identifiers."""
        import psycopg2
        from psycopg2 import sql

        if identifiers:
            statement = sql.SQL(statement).format(*map(sql.Identifier, identifiers))
        conn = psycopg2.connect(host=str(self.sockets), port=self.port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def __exit__(self, *exc: object) -> None:
        if self._root is None:
            return  # nothing was started
        subprocess.run(self._as_owner(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                       capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)
        self._root = None


@dataclass
class RayNode:
    name: str
    temp_dir: Path
    pgid: int
    node_id: str = ""


@dataclass
class LocalRayCluster:
    """A head node and `workers` extra nodes on 127.0.0.1. `env` is the environment every Ray process
    (and so every job entrypoint) starts with, as the pods of a real cluster carry theirs."""

    head_cpus: int = 1
    workers: list[dict[str, int]] = field(default_factory=lambda: [{"num_cpus": 1}])
    env: dict[str, str] = field(default_factory=dict)
    object_store_bytes: int = 150 * 1024 ** 2
    nodes: list[RayNode] = field(default_factory=list)
    gcs_address: str = ""
    dashboard_url: str = ""

    def _start(self, name: str, args: list[str]) -> RayNode:
        temp = Path(tempfile.mkdtemp(prefix=f"spatialmix-ray-{name}-"))
        ray = str(Path(sys.executable).parent / "ray")
        env = {**os.environ, **self.env, "RAY_USAGE_STATS_ENABLED": "0",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        # Its own session: every process of the node shares its process group, stopped together.
        proc = subprocess.Popen([ray, "start", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}",
                                 f"--object-store-memory={self.object_store_bytes}", "--disable-usage-stats", *args],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        out, _ = proc.communicate(timeout=180)
        node = RayNode(name, temp, proc.pid)
        self.nodes.append(node)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start ({name}) failed:\n{out[-3000:]}")
        return node

    def __enter__(self) -> "LocalRayCluster":
        port, dashboard = free_port(), free_port()
        try:
            self._start("head", ["--head", f"--port={port}", f"--num-cpus={self.head_cpus}", "--num-gpus=0",
                                 "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                                 f"--dashboard-port={dashboard}", f"--ray-client-server-port={free_port()}",
                                 f"--dashboard-agent-listen-port={free_port()}"])
            self.gcs_address = f"127.0.0.1:{port}"
            self.dashboard_url = f"http://127.0.0.1:{dashboard}"
            for i, resources in enumerate(self.workers):
                self._start(f"worker{i}", [f"--address={self.gcs_address}",
                                           f"--num-cpus={resources.get('num_cpus', 1)}",
                                           f"--num-gpus={resources.get('num_gpus', 0)}",
                                           f"--dashboard-agent-listen-port={free_port()}"])
            self._wait_for_nodes(1 + len(self.workers))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for_nodes(self, count: int, timeout_s: float = 120) -> None:
        from ray.util.state import list_nodes

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alive = [n for n in list_nodes(address=self.dashboard_url) if n.state == "ALIVE"]
            if len(alive) >= count:
                ids = {n.node_id for n in alive}
                for node in self.nodes:
                    node.node_id = next(iter(_node_ids_in(node.temp_dir) & ids), "")
                return
            time.sleep(1)
        raise TimeoutError(f"{count} Ray nodes did not come up within {timeout_s}s")

    def kill_node_process_group(self, node: RayNode, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(node.pgid, sig)
        except ProcessLookupError:
            pass

    def __exit__(self, *exc: object) -> None:
        for node in reversed(self.nodes):  # workers first, then the head
            self.kill_node_process_group(node, signal.SIGTERM)
        deadline = time.monotonic() + 5  # then SIGKILL: nothing of a throwaway cluster needs keeping
        while time.monotonic() < deadline and any(_group_alive(n.pgid) for n in self.nodes):
            time.sleep(0.5)
        for node in self.nodes:
            self.kill_node_process_group(node, signal.SIGKILL)
            shutil.rmtree(node.temp_dir, ignore_errors=True)
        self.nodes.clear()


def _node_ids_in(temp_dir: Path) -> set[str]:
    """Node ids named by the files of a node's session folder (e.g. `metrics_agent_port_<node id>`)."""
    session = temp_dir / "session_latest"
    return {p.name.rsplit("_", 1)[-1] for p in session.glob("*_port_*")}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


# The services file that `.ci/run` has `python -m sample.services` write once PostgreSQL and the Ray
# cluster are up; the test fixtures use those services when it is set, and start their own otherwise.
SERVICES_ENV = "SPATIALMIX_TEST_SERVICES"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def two_node_cluster(postgres: LocalPostgres) -> LocalRayCluster:
    """The tests' cluster: head (1 CPU) and one worker (1 CPU, 1 logical GPU: the node `spatialqa` must
    land on). The nodes carry what the pods of a real deployment carry: the database password, the code."""
    env = {**postgres.env(), "PYTHONPATH": str(PROJECT_ROOT)}
    return LocalRayCluster(head_cpus=1, workers=[{"num_cpus": 1, "num_gpus": 1}], env=env)


def running_services() -> tuple[LocalPostgres, LocalRayCluster] | None:
    """The services described by $SPATIALMIX_TEST_SERVICES (the password: $DAGSTER_PG_PASSWORD, never in
    the file), or None when it is not set."""
    path = os.environ.get(SERVICES_ENV)
    if not path:
        return None
    info = json.loads(Path(path).read_text())
    password = os.environ.get("DAGSTER_PG_PASSWORD")
    if not password:
        raise RuntimeError(f"{SERVICES_ENV} is set but DAGSTER_PG_PASSWORD is not: the server's password")
    postgres = LocalPostgres(info["postgres_user"], info["postgres_db"], info["postgres_port"], password)
    cluster = LocalRayCluster(gcs_address=info["gcs_address"], dashboard_url=info["dashboard_url"],
                              nodes=[RayNode(**{**n, "temp_dir": Path(n["temp_dir"])}) for n in info["nodes"]])
    return postgres, cluster


def serve(path: Path) -> None:
    """Start PostgreSQL (password from $DAGSTER_PG_PASSWORD) and the tests' two-node Ray cluster, write
    `path` (atomically, once both are up), hold them until SIGTERM or SIGINT, then stop both."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    password = os.environ.get("DAGSTER_PG_PASSWORD")
    if not password:
        raise SystemExit("DAGSTER_PG_PASSWORD must be set: the password of the server's role")
    with LocalPostgres(password=password) as postgres, two_node_cluster(postgres) as cluster:
        info = {**{k: postgres.settings()[k] for k in ("postgres_port", "postgres_user", "postgres_db")},
                "gcs_address": cluster.gcs_address, "dashboard_url": cluster.dashboard_url,
                "nodes": [dataclasses.asdict(n) for n in cluster.nodes]}
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_text(json.dumps(info, indent=1, default=str))  # default: the nodes' temp folders
        os.replace(tmp, path)
        print(f"services up: PostgreSQL on 127.0.0.1:{postgres.port}, Ray at {cluster.dashboard_url}", flush=True)
        while not stop:
            time.sleep(0.5)
    path.unlink(missing_ok=True)
    print("services stopped", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="PostgreSQL and a two-node Ray cluster on loopback, for the "
                                                 "cluster tests (.ci/run), held until SIGTERM")
    parser.add_argument("--state", type=Path, required=True, help="the services file to write")
    serve(parser.parse_args().state)
