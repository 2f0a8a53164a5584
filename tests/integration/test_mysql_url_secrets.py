"""A mistyped password in a mysql:// URL never shows (issue 11, defect 8).

The mysql driver parses its URL itself (drivers/mysql/url.c parse_url): the
credentials end at the last '@' before the query, so an unencoded '/' or
'@' still works; '#', a '?' before the '@' and a bad %-escape are refused
with exit 2, naming the part, quoting none of it. The harness checks every
run's output for the password, its encoded form and fragments of it.
"""

from urllib.parse import quote

import pytest

from conftest import TRICKY_PASSWORD

USER = "tricky"


def enc(except_chars=""):
    return quote(TRICKY_PASSWORD, safe=except_chars)


URL_CASES = {
    "raw": (TRICKY_PASSWORD, 2, "'#'"),
    "percent_not_encoded": (enc("%"), 2, "the password has an invalid %-escape"),
    "hash_not_encoded": (enc("#"), 2, "'#'"),
    "question_not_encoded": (enc("?"), 2, "after the '?'"),
    "slash_not_encoded": (enc("/"), 0, None),
    "at_not_encoded": (enc("@"), 0, None),
    "all_encoded": (enc(), 0, None),
    "wrong_password": (enc() + "x", 3, "Access denied"),
}


@pytest.mark.parametrize("case", sorted(URL_CASES))
def test_url_with_a_mistyped_password(mysql_project, mariadb_server, mdb, case):
    written, code, words = URL_CASES[case]
    mdb.create_user(USER, TRICKY_PASSWORD, privileges="ALL")
    url = f"mysql://{USER}:{written}@{mariadb_server.host}:{mariadb_server.port}/{mdb.name}"
    r = mysql_project.run_raw("status", "-d", url, "-m", mysql_project.migrations,
                              "--state", mysql_project.state)
    assert r.rc == code, r.describe()
    if words:
        assert words in r.err, r.describe()
        assert "hint:" in r.err or code == 3, r.describe()
