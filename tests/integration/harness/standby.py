"""Servers beside the primary (issue 17): PostgreSQL streaming standbys and
MariaDB replicas, real ones, on loopback ports of their own.

- PgPrimary: a PgServer that accepts replication connections over its unix
  socket (pg_hba `local replication all trust`), WAL level replica (the
  default).
- PgStandby(primary, name): a hot standby made with `pg_basebackup -R`
  over the primary's socket, streaming, its `cluster_name` = name (the
  application_name the primary shows in pg_stat_replication). The
  application's role and its password come with the copy, so a client
  reaches it as it reaches the primary (127.0.0.1, its own port).
  pause_replay()/resume_replay() (pg_wal_replay_pause: WAL still arrives,
  replay stops, the lag grows for real), stop() (the standby is gone),
  start() again.
- MariaDbReplicaSet(n): a primary (binary log, GTID) and n replicas, each
  with report_host so the primary lists it (SHOW SLAVE HOSTS); set_delay(i,
  s) delays replica i by MASTER_DELAY s (a real lag), stop_replica(i).
"""

import os
import textwrap
import time

from .mariadb import MariaDbServer
from .pg import PgServer


class PgPrimary(PgServer):
    """A PgServer whose standbys may stream from it over its socket."""

    def start(self):
        super().start()
        hba = os.path.join(self.datadir, "pg_hba.conf")
        with open(hba, "a") as f:
            f.write("local replication all trust\n")
        self._run("pg_ctl", "reload", "-D", self.datadir)

    def replication(self):
        """pg_stat_replication as the superuser sees it: a list of
        (application_name, state, replay_lag seconds or None)."""
        with self.admin() as c:
            return c.execute(
                "SELECT application_name, state, extract(epoch FROM replay_lag)::float8 "
                "FROM pg_stat_replication ORDER BY 1").fetchall()

    def wait_streaming(self, names, timeout=60):
        """Wait until every standby in names streams from this primary."""
        deadline = time.monotonic() + timeout
        while True:
            streaming = {r[0] for r in self.replication() if r[1] == "streaming"}
            if set(names) <= streaming:
                return
            assert time.monotonic() < deadline, \
                "standbys %s never streamed (streaming: %s)" % (sorted(names), sorted(streaming))
            time.sleep(0.1)


class PgStandby(PgServer):
    """A streaming hot standby of primary (a PgPrimary)."""

    # appended: pg_basebackup -R put primary_conninfo in postgresql.auto.conf,
    # and the primary's own port line came with the copy (the last setting
    # of a name wins)
    settings_mode = "a"
    server_label = "the standby"

    def __init__(self, primary, name="standby1"):
        super().__init__()
        self.primary = primary
        self.name = name

    def start(self):
        t0 = time.monotonic()
        self._make_root("migrate-pg-standby-")
        self._run("pg_basebackup", "-D", self.datadir, "-h", self.primary.socket_dir,
                  "-p", self.primary.port, "-U", "postgres", "-R", "-X", "stream",
                  "-c", "fast", timeout=120)
        self.port = None
        self._start_on_free_port()
        self.primary.wait_streaming([self.name])
        self.start_seconds = time.monotonic() - t0

    def _settings(self):
        return textwrap.dedent(f"""\
            # written by tests/integration/harness/standby.py
            port = {self.port}
            unix_socket_directories = '{self.socket_dir}'
            cluster_name = '{self.name}'
            hot_standby = on
            hot_standby_feedback = on
            wal_receiver_status_interval = 1s
            """)

    def pause_replay(self):
        with self.admin() as c:
            c.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self):
        with self.admin() as c:
            c.execute("SELECT pg_wal_replay_resume()")

    def halt(self):
        """Stop the standby (immediate shutdown) but keep its files, so
        that resume() can start it again on the same port."""
        self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", self.datadir,
                  timeout=60, check=False)

    def resume(self):
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", self.datadir,
                  "-l", self.logfile, timeout=90)
        self.primary.wait_streaming([self.name])

    def wait_replayed(self, timeout=60):
        """Wait until this standby has replayed everything the primary has
        written so far."""
        with self.primary.admin() as c:
            (lsn,) = c.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        deadline = time.monotonic() + timeout
        while True:
            with self.admin() as c:
                (done,) = c.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                    (lsn,)).fetchone()
            if done:
                return
            assert time.monotonic() < deadline, f"{self.name} did not replay up to {lsn}"
            time.sleep(0.05)

    def url_for(self, database, user, password):
        """A URL to one of the primary's databases on this standby."""
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"


class MariaDbReplicaSet:
    """A primary (binary log, server_id 1) and n replicas (server_id 2..,
    report_host 127.0.0.1, so the primary lists them), replicating with
    GTID from the moment the set is up."""

    def __init__(self, n=2):
        self.primary = MariaDbServer(["--log-bin=mysql-bin", "--server-id=1",
                                      "--binlog-format=ROW",
                                      "--log-bin-trust-function-creators=1"])
        self.replicas = [MariaDbServer([f"--server-id={i + 2}", "--report-host=127.0.0.1",
                                        "--read-only"]) for i in range(n)]

    def start(self):
        self.primary.start()
        with self.primary.admin() as c, c.cursor() as cur:
            cur.execute("SELECT @@gtid_binlog_pos")
            (pos,) = cur.fetchone()
        for i, r in enumerate(self.replicas):
            r.start()
            # the users each server created on its own are not replayed
            self.replica_sql(i, f"SET GLOBAL gtid_slave_pos = '{pos}'")
            self.replica_sql(
                i, "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', "
                f"MASTER_PORT = {self.primary.port}, MASTER_USER = 'root', "
                "MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos")
            self.replica_sql(i, "START SLAVE")
        self.wait_listed()

    def replica_sql(self, i, sql):
        with self.replicas[i].admin() as c, c.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall()) if cur.description else []

    def listed(self):
        with self.primary.admin() as c, c.cursor() as cur:
            cur.execute("SHOW SLAVE HOSTS")
            return len(cur.fetchall())

    def wait_listed(self, timeout=30):
        """Wait until the primary lists every running replica (each
        registers when its I/O thread connects)."""
        want = sum(1 for r in self.replicas if r.dir and not getattr(r, "halted", False))
        deadline = time.monotonic() + timeout
        while self.listed() < want:
            assert time.monotonic() < deadline, "the replicas never all registered"
            time.sleep(0.1)

    def set_delay(self, i, seconds):
        self.replica_sql(i, "STOP SLAVE")
        self.replica_sql(i, f"CHANGE MASTER TO MASTER_DELAY = {seconds}")
        self.replica_sql(i, "START SLAVE")
        self.wait_listed()

    def wait_caught_up(self, timeout=60):
        with self.primary.admin() as c, c.cursor() as cur:
            cur.execute("SELECT @@gtid_binlog_pos")
            (pos,) = cur.fetchone()
        for i in range(len(self.replicas)):
            rows = self.replica_sql(i, f"SELECT MASTER_GTID_WAIT('{pos}', {timeout})")
            assert rows[0][0] == 0, f"replica {i} did not reach {pos} in {timeout}s"

    def stop(self):
        for r in self.replicas:
            r.stop()
        self.primary.stop()

