"""A mistyped password in a database URL never shows (issue 11, defect 8).

PostgreSQL: libpq's own parse errors quoted the text they stumbled on: a
'%' that is not an escape gave `invalid percent-encoded token: "50%off-Zq"`,
and an unencoded '/' made the rest of the password a port (`invalid
integer value "sec" for connection option "port"`). migrate now reads the
URL the way libpq does before connecting: a malformed one exits 2 naming
the part that is wrong, quoting none of it.

MariaDB: the mysql driver parses its URL itself (drivers/mysql parse_url):
the credentials end at the last '@' before the query, so an unencoded '/'
or '@' still works; '#', a '?' before the '@' and a bad %-escape are
refused with exit 2, naming the part, quoting none of it.

The two parsers legitimately read the same URL differently (libpq ends
the password at the first '@', the mysql driver at the last one), so each
case below says what each database does with it. The harness checks every
run's output for the password, its encoded form and fragments of it
(harness/secrets.py SECRETS).
"""

from urllib.parse import quote

import pytest

from harness.secrets import TRICKY_PASSWORD

USER = "tricky"


@pytest.fixture
def tricky(target):
    """An account `tricky` with TRICKY_PASSWORD and every right on the
    target's database; the database."""
    db = target.db
    if target.is_mysql:
        db.create_user(USER, TRICKY_PASSWORD, privileges="ALL")  # dropped with db
        yield db
        return
    with target.server.admin() as c:
        c.execute(f"DROP ROLE IF EXISTS {USER}")
        lit = "'" + TRICKY_PASSWORD.replace("'", "''") + "'"
        c.execute(f"CREATE ROLE {USER} LOGIN PASSWORD {lit}")
    yield db
    with target.server.admin() as c:
        c.execute(f"REVOKE ALL ON DATABASE \"{db.name}\" FROM {USER}")
        c.execute(f"DROP ROLE IF EXISTS {USER}")


def enc(except_chars=""):
    """The password percent-encoded, leaving except_chars as they are."""
    return quote(TRICKY_PASSWORD, safe=except_chars)


# name: (the password as written in the URL,
#        {kind: (expected exit, words of the error)})
URL_CASES = {
    "raw": (TRICKY_PASSWORD, {"pg": (2, "invalid %-escape"),
                              "mysql": (2, "'#'")}),
    "percent_not_encoded": (enc("%"), {
        "pg": (2, "the password in the database URL has an invalid %-escape"),
        "mysql": (2, "the password has an invalid %-escape")}),
    # libpq ends the password at the first '@', the mysql driver at the last
    "slash_not_encoded": (enc("/"), {
        "pg": (2, "the port in the database URL is not a number"),
        "mysql": (0, None)}),
    "at_not_encoded": (enc("@"), {"pg": (2, "more than one '@'"),
                                  "mysql": (0, None)}),
    "only_percent_encoded": (TRICKY_PASSWORD.replace("%", "%25"), {
        "pg": (2, "the database URL is not valid"),
        "mysql": (2, "'#'")}),
    # libpq ends the password at the first '@', whatever comes before it
    "query_and_hash_not_encoded": (enc("?#"), {"pg": (0, None),
                                               "mysql": (2, "'#'")}),
    "hash_not_encoded": (enc("#"), {"pg": (0, None), "mysql": (2, "'#'")}),
    "question_not_encoded": (enc("?"), {"pg": (0, None),
                                        "mysql": (2, "after the '?'")}),
    "all_encoded": (enc(), {"pg": (0, None), "mysql": (0, None)}),
    "wrong_password": (enc() + "x", {"pg": (3, "password authentication failed"),
                                     "mysql": (3, "Access denied")}),
}

SCHEME = {"pg": "postgresql", "mysql": "mysql"}


@pytest.mark.parametrize("case", sorted(URL_CASES))
def test_url_with_a_mistyped_password(target, tricky, case):
    written, expected = URL_CASES[case]
    code, words = expected[target.kind]
    server = target.server
    url = f"{SCHEME[target.kind]}://{USER}:{written}@{server.host}:{server.port}/{tricky.name}"
    project = target.project
    r = project.run_raw("status", "-d", url, "-m", project.migrations,
                        "--state", project.state)
    assert r.rc == code, r.describe()
    if words:
        assert words in r.err, r.describe()
        # the server's own refusal on MariaDB (Access denied) comes without
        # a hint of ours; every refusal of migrate's has one
        assert "hint:" in r.err or (target.is_mysql and code == 3), r.describe()
    # run_raw already asserted that no secret and no fragment of it shows


# A conninfo string ("host=... password=...") is libpq's: PostgreSQL only.
@pytest.mark.targets("postgres")
@pytest.mark.parametrize("case,password,code", [
    ("quoted", "'" + TRICKY_PASSWORD + "'", 0),
    ("unterminated", "'" + TRICKY_PASSWORD, 2),
])
def test_conninfo_with_the_password(target, tricky, case, password, code):
    server = target.server
    ci = (f"host={server.host} port={server.port} dbname={tricky.name} "
          f"user={USER} password={password}")
    project = target.project
    r = project.run_raw("status", "-d", ci, "-m", project.migrations,
                        "--state", project.state)
    assert r.rc == code, r.describe()
    if code == 2:
        assert "the database URL is not valid" in r.err, r.describe()
