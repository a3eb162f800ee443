"""`PostgresServer.restart`: the test database goes down and comes back on the same port with the
same data (a real server from Debian's packages; no cluster needed)."""

from __future__ import annotations

import pytest

from dagster_ext.testing.services import postgres_server

psycopg2 = pytest.importorskip("psycopg2")


@pytest.mark.timeout(120)
def test_restart_keeps_the_port_and_the_data() -> None:
    with postgres_server(db_name="restart_probe") as server:
        url = server.url.replace(server.host, "127.0.0.1")
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (n int); INSERT INTO t VALUES (1)")
        server.restart(down_s=0.5)
        with pytest.raises(psycopg2.OperationalError), conn.cursor() as cur:
            cur.execute("SELECT 1")  # the old session did not survive the restart
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT n FROM t")
            assert cur.fetchall() == [(1,)]
        conn.close()
