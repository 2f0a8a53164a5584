"""A mistyped password in a PostgreSQL URL never shows (issue 11, defect 8).

libpq's own parse errors quoted the text they stumbled on: a '%' that is
not an escape gave `invalid percent-encoded token: "50%off-Zq"`, and an
unencoded '/' made the rest of the password a port (`invalid integer
value "sec" for connection option "port"`). migrate now reads the URL the
way libpq does before connecting: a malformed one exits 2 naming the part
that is wrong, quoting none of it. The harness checks every run's output
for the password, its encoded form and fragments of it (conftest SECRETS).
"""

from urllib.parse import quote

import pytest

from conftest import TRICKY_PASSWORD

USER = "tricky"


@pytest.fixture
def tricky(pg_server, db):
    with pg_server.admin() as c:
        c.execute(f"DROP ROLE IF EXISTS {USER}")
        lit = "'" + TRICKY_PASSWORD.replace("'", "''") + "'"
        c.execute(f"CREATE ROLE {USER} LOGIN PASSWORD {lit}")
    yield db
    with pg_server.admin() as c:
        c.execute(f"REVOKE ALL ON DATABASE \"{db.name}\" FROM {USER}")
        c.execute(f"DROP ROLE IF EXISTS {USER}")


def enc(except_chars=""):
    """The password percent-encoded, leaving except_chars as they are."""
    return quote(TRICKY_PASSWORD, safe=except_chars)


# name: (the password as written in the URL, expected exit, words of the error)
URL_CASES = {
    "raw": (TRICKY_PASSWORD, 2, "invalid %-escape"),
    "percent_not_encoded": (enc("%"), 2, "the password in the database URL has an invalid %-escape"),
    "slash_not_encoded": (enc("/"), 2, "the port in the database URL is not a number"),
    "at_not_encoded": (enc("@"), 2, "more than one '@'"),
    "only_percent_encoded": (TRICKY_PASSWORD.replace("%", "%25"), 2, "the database URL is not valid"),
    # libpq ends the password at the first '@', whatever comes before it
    "query_and_hash_not_encoded": (enc("?#"), 0, None),
    "all_encoded": (enc(), 0, None),
    "wrong_password": (enc() + "x", 3, "password authentication failed"),
}


@pytest.mark.parametrize("case", sorted(URL_CASES))
def test_url_with_a_mistyped_password(project, pg_server, tricky, case):
    written, code, words = URL_CASES[case]
    url = f"postgresql://{USER}:{written}@{pg_server.host}:{pg_server.port}/{tricky.name}"
    r = project.run_raw("status", "-d", url, "-m", project.migrations,
                        "--state", project.state)
    assert r.rc == code, r.describe()
    if words:
        assert words in r.err, r.describe()
        assert "hint:" in r.err, r.describe()
    # run_raw already asserted that no secret and no fragment of it shows



@pytest.mark.parametrize("case,password,code", [
    ("quoted", "'" + TRICKY_PASSWORD + "'", 0),
    ("unterminated", "'" + TRICKY_PASSWORD, 2),
])
def test_conninfo_with_the_password(project, pg_server, tricky, case, password, code):
    ci = (f"host={pg_server.host} port={pg_server.port} dbname={tricky.name} "
          f"user={USER} password={password}")
    r = project.run_raw("status", "-d", ci, "-m", project.migrations,
                        "--state", project.state)
    assert r.rc == code, r.describe()
    if code == 2:
        assert "the database URL is not valid" in r.err, r.describe()
