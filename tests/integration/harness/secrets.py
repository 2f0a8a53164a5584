"""Passwords of the test accounts, and the check that none of them (nor a
fragment of one) ever appears in what migrate prints."""

from urllib.parse import quote

APP_USER = "app"
APP_PASSWORD = "secret-pw-1"

# MariaDB: the application user's password needs URL-encoding in a
# mysql:// URL (':' '@' '/' '?' '#' '%' '+'); "s3cr" is a fragment of it
# that must never be printed either.
MYSQL_APP_PASSWORD = "My:s3cr@t/pw?#%+1"
MYSQL_APP_PASSWORD_URL = quote(MYSQL_APP_PASSWORD, safe="")
MYSQL_LOW_USER = "lowpriv"
MYSQL_LOW_PASSWORD = "low-pw-4"

# A password with every character a URL gives a meaning to, for the tests of
# mistyped URLs (test_url_secrets.py, on both databases); "off-Zq"
# and "k3y" are fragments of it that libpq once quoted in its own errors.
TRICKY_PASSWORD = "50%off-Zq/k3y@r#t?x"

# Every run's stdout/stderr is checked for these.
SECRETS = (APP_PASSWORD, MYSQL_APP_PASSWORD, MYSQL_APP_PASSWORD_URL, "s3cr",
           TRICKY_PASSWORD, quote(TRICKY_PASSWORD, safe=""), "off-Zq", "k3y")


def _mask(text):
    for s in sorted(SECRETS, key=len, reverse=True):
        text = text.replace(s, "****")
    return text


def assert_no_secret(*texts, where="output"):
    for t in texts:
        for secret in SECRETS:
            if t and secret in t:
                raise AssertionError(
                    f"the database password appears in the {where} "
                    f"(secrets must print as ****):\n{t}")
