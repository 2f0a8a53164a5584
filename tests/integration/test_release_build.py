"""A release build honours no test hook (issue 11, defect 1).

ctest builds `migrate_release` beside the test binary: the same commands and
core, linked with the empty bodies of src/testhooks.c, as every build made
without -DMIGRATE_TEST_HOOKS=ON is. Before the fix the hooks were compiled
into every build: MIGRATE_FAULT=expand:1 killed a production expand, and
MIGRATE_TEST_LAG_MS made `backfill --max-lag` believe a made-up lag.
"""

import os
from pathlib import Path

import pytest

from conftest import Project


@pytest.fixture(scope="module")
def release_bin():
    b = os.environ.get("MIGRATE_RELEASE_BIN")
    if not b or not Path(b).is_file():
        pytest.fail("MIGRATE_RELEASE_BIN must name the built migrate_release "
                    "binary (ctest sets it)", pytrace=False)
    return str(Path(b).resolve())


def test_version_says_which_build(release_bin, cli):
    r = cli.run_raw("--version")
    assert r.rc == 0 and "test build" in r.out, r.describe()
    rel = Project(release_bin, None, cli.cwd / "rel")
    r = rel.run_raw("--version")
    assert r.rc == 0, r.describe()
    assert "release build: no test hooks" in r.out, r.describe()
    assert "MIGRATE_FAULT" not in r.out


def test_release_ignores_fault_and_lag_hooks(release_bin, users_project):
    rel = Project(release_bin, users_project.db, users_project.dir)
    # the test build dies at this fault point ...
    r = users_project.run("expand", fault="expand:1")
    assert r.rc in (-9, 137), "the test build must honour MIGRATE_FAULT\n" + r.describe()
    # ... the release build runs through it (and repairs what the kill left)
    rel.ok("expand", fault="expand:1")
    assert users_project.phases()[1] == "expanded"
    # an unreadable lag pauses the test build's backfill (fail closed); the
    # release build never sees the made-up value and reads the server's
    r = rel.run("backfill", "--max-lag", "1000",
                env={"MIGRATE_TEST_LAG_MS": "unknown"}, timeout=60)
    assert r.rc == 0, r.describe()
    assert users_project.phases()[1] == "backfilled"
