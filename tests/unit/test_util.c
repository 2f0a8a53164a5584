/*
 * test_util.c - the small pieces everything else stands on (src/util.c).
 *
 * The story: the string builder's buffer is never NULL and grows without
 * limit; a detached string belongs to the caller; a string list copies or
 * takes what it is given; a database URL or conninfo shown to an operator
 * never carries its password, whatever shape it has; SHA-256 matches the
 * published vectors; numbers on the command line are non-negative decimals
 * and nothing else; an error keeps one message, one hint and its code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "util.h"

/* ---- the string builder ----------------------------------------------------- */

static void test_buf_starts_empty(void **arg)
{
	struct mg_buf b = MG_BUF_INIT;
	struct mg_buf c;

	(void)arg;
	assert_non_null(b.buf);
	assert_string_equal(b.buf, "");
	assert_int_equal(b.len, 0);
	mg_buf_init(&c);
	assert_non_null(c.buf);
	assert_string_equal(c.buf, "");
	/* releasing and resetting an empty buffer are no-ops */
	mg_buf_reset(&b);
	mg_buf_release(&b);
	mg_buf_release(&c);
	assert_string_equal(b.buf, "");
}

static void test_buf_add(void **arg)
{
	struct mg_buf b = MG_BUF_INIT;

	(void)arg;
	mg_buf_adds(&b, "ALTER TABLE ");
	mg_buf_add(&b, "\"users\"xyz", 7);
	mg_buf_addc(&b, ' ');
	mg_buf_addf(&b, "ADD COLUMN %s %s%d", "\"n\"", "int", 8);
	mg_buf_addc(&b, ';');
	assert_string_equal(b.buf, "ALTER TABLE \"users\" ADD COLUMN \"n\" int8;");
	assert_int_equal(b.len, strlen(b.buf));
	mg_buf_release(&b);
	assert_string_equal(b.buf, "");
	assert_int_equal(b.len, 0);
	assert_int_equal(b.alloc, 0);
}

static void test_buf_grows(void **arg)
{
	struct mg_buf b = MG_BUF_INIT;
	char *big = mg_xmalloc(100001);

	(void)arg;
	for (int i = 0; i < 10000; i++)
		mg_buf_addf(&b, "%04d|", i % 10000);
	assert_int_equal(b.len, 50000);
	assert_memory_equal(b.buf, "0000|0001|", 10);
	assert_string_equal(b.buf + b.len - 5, "9999|");
	assert_true(b.alloc > b.len);

	/* one formatted piece bigger than everything before it */
	memset(big, 'x', 100000);
	big[100000] = '\0';
	mg_buf_addf(&b, "[%s]", big);
	assert_int_equal(b.len, 150002);
	assert_int_equal(b.buf[b.len - 1], ']');
	assert_int_equal(b.buf[b.len], '\0');
	free(big);
	mg_buf_release(&b);
}

static void test_buf_reset_keeps_memory(void **arg)
{
	struct mg_buf b = MG_BUF_INIT;
	char *before;
	size_t alloc;

	(void)arg;
	mg_buf_adds(&b, "some text to allocate");
	before = b.buf;
	alloc = b.alloc;
	mg_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.buf, "");
	assert_ptr_equal(b.buf, before);
	assert_int_equal(b.alloc, alloc);
	mg_buf_adds(&b, "again");
	assert_string_equal(b.buf, "again");
	mg_buf_release(&b);
}

static void test_buf_detach(void **arg)
{
	struct mg_buf b = MG_BUF_INIT;
	char *s;

	(void)arg;
	mg_buf_adds(&b, "owned now");
	s = mg_buf_detach(&b);
	assert_string_equal(s, "owned now");
	/* the buffer is empty and usable again */
	assert_string_equal(b.buf, "");
	assert_int_equal(b.len, 0);
	mg_buf_adds(&b, "second");
	assert_string_equal(b.buf, "second");
	assert_string_equal(s, "owned now");
	free(s);
	mg_buf_release(&b);

	/* detaching a buffer that never allocated gives a freeable "" */
	s = mg_buf_detach(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_true(s != mg_buf_empty);
	free(s);
}

static void test_xasprintf_and_strdup(void **arg)
{
	char *s;

	(void)arg;
	s = mg_xasprintf("%s.%s", "\"public\"", "\"users\"");
	assert_string_equal(s, "\"public\".\"users\"");
	free(s);
	s = mg_xasprintf("%s", "");
	assert_string_equal(s, "");
	free(s);
	assert_null(mg_xstrdup(NULL));
	s = mg_xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
}

/* ---- string lists ----------------------------------------------------------- */

static void test_strlist(void **arg)
{
	struct mg_strlist l = MG_STRLIST_INIT;
	char word[16];

	(void)arg;
	assert_false(mg_strlist_contains(&l, "a"));
	snprintf(word, sizeof(word), "copied");
	mg_strlist_push(&l, word);
	word[0] = 'X';	/* push copied it */
	mg_strlist_push_owned(&l, mg_xstrdup("owned"));
	for (int i = 0; i < 20; i++) {
		snprintf(word, sizeof(word), "n%d", i);
		mg_strlist_push(&l, word);
	}
	assert_int_equal(l.n, 22);
	assert_string_equal(l.items[0], "copied");
	assert_string_equal(l.items[1], "owned");
	assert_string_equal(l.items[21], "n19");
	assert_true(mg_strlist_contains(&l, "copied"));
	assert_true(mg_strlist_contains(&l, "n7"));
	assert_false(mg_strlist_contains(&l, "Xopied"));
	assert_false(mg_strlist_contains(&l, "n"));
	mg_strlist_release(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.items);
	/* usable again after release */
	mg_strlist_push(&l, "again");
	assert_int_equal(l.n, 1);
	mg_strlist_release(&l);
}

/* ---- redaction ----------------------------------------------------------------- */

static void expect_redacted(const char *in, const char *want)
{
	char *got = mg_redact_url(in);

	if (strcmp(got, want) != 0)
		fail_msg("mg_redact_url(\"%s\")\n  got  \"%s\"\n  want \"%s\"",
			 in, got, want);
	free(got);
}

static void test_redact_url_password(void **arg)
{
	(void)arg;
	expect_redacted("postgres://u:secret@h/db", "postgres://u:****@h/db");
	expect_redacted("postgresql://app:secret-pw-1@127.0.0.1:5432/shop",
			"postgresql://app:****@127.0.0.1:5432/shop");
	/* no path at all */
	expect_redacted("postgres://u:secret@h", "postgres://u:****@h");
	/* an empty password is still a password field */
	expect_redacted("postgres://u:@h/db", "postgres://u:****@h/db");
}

static void test_redact_url_without_password(void **arg)
{
	(void)arg;
	expect_redacted("postgres://u@h/db", "postgres://u@h/db");
	expect_redacted("postgres://h:5432/db", "postgres://h:5432/db");
	expect_redacted("postgresql://postgres@127.0.0.1:5432/postgres",
			"postgresql://postgres@127.0.0.1:5432/postgres");
	expect_redacted("postgres:///db?host=/tmp", "postgres:///db?host=/tmp");
	/* an '@' after the authority is not a user name */
	expect_redacted("postgres://h/db?application_name=a@b",
			"postgres://h/db?application_name=a@b");
	expect_redacted("", "");
}

static void test_redact_url_query_password(void **arg)
{
	(void)arg;
	expect_redacted("postgres://u@h/db?password=x", "postgres://u@h/db?password=****");
	expect_redacted("postgres://u@h/db?sslmode=require&password=x&connect_timeout=5",
			"postgres://u@h/db?sslmode=require&password=****&connect_timeout=5");
	/* both places at once */
	expect_redacted("postgres://u:one@h/db?password=two",
			"postgres://u:****@h/db?password=****");
}

static void test_redact_url_password_with_at(void **arg)
{
	(void)arg;
	/* everything up to the last '@' of the authority is hidden, whichever
	 * '@' a client would split at */
	expect_redacted("postgres://u:p@ss@h/db", "postgres://u:****@h/db");
	expect_redacted("postgres://u:p@s:s@h:5432/db", "postgres://u:****@h:5432/db");
	/* percent-encoded, as URLs should be */
	expect_redacted("postgres://u:p%40ss@h/db", "postgres://u:****@h/db");
	/* libpq ends the password at the '@', not at an unencoded '?' or '#' */
	expect_redacted("postgres://u:pa?ss@h/db", "postgres://u:****@h/db");
	expect_redacted("postgres://u:pa#ss@h/db", "postgres://u:****@h/db");
	expect_redacted("postgres://u:50%off-Zq/k3y@r#t?x@h:5432/db",
			"postgres://u:****@h:5432/db");
}

/* every password= of the query is hidden, sslpassword= (the client key's
 * password) too, however many there are and in whatever order */
static void test_redact_url_query_every_password(void **arg)
{
	(void)arg;
	expect_redacted("postgres://u@h/db?sslpassword=k&password=secret",
			"postgres://u@h/db?sslpassword=****&password=****");
	expect_redacted("postgres://u@h/db?password=a&password=b",
			"postgres://u@h/db?password=****&password=****");
	expect_redacted("postgres://u@h/db?password=secret&sslpassword=k&sslmode=require",
			"postgres://u@h/db?password=****&sslpassword=****&sslmode=require");
	/* the value ends at '&' only: libpq reads "x#f" as the password */
	expect_redacted("postgres://u@h/db?password=x#f", "postgres://u@h/db?password=****");
	/* a password in the authority and two in the query */
	expect_redacted("postgres://u:one@h/db?password=two&x=1&password=three",
			"postgres://u:****@h/db?password=****&x=1&password=****");
	/* libpq: database "d:b", host "a?b@h", password "secretpw"; the '?'
	 * that starts the query falls inside the user info hidden up to the
	 * '@' (found by fuzz_url) */
	expect_redacted("postgresql:///d:b?host=a?b@h&password=secretpw",
			"postgresql:///d:****@h&password=****");
}

/* an unencoded '/' in the password does not end the authority early */
static void test_redact_url_password_with_slash(void **arg)
{
	(void)arg;
	expect_redacted("postgres://u:pa/ss@h/db", "postgres://u:****@h/db");
	expect_redacted("postgres://u:a/b/c@h:5432/db?sslmode=require",
			"postgres://u:****@h:5432/db?sslmode=require");
	/* but a '/' after a user without a password is still the path */
	expect_redacted("postgres://u@h/db/x", "postgres://u@h/db/x");
}

static void test_redact_conninfo(void **arg)
{
	(void)arg;
	expect_redacted("password=secret", "password=****");
	expect_redacted("host=h user=u password=secret dbname=db",
			"host=h user=u password=**** dbname=db");
	expect_redacted("host=h password = 'se cret' dbname=db",
			"host=h password = **** dbname=db");
	expect_redacted("password='it\\'s' host=h", "password=**** host=h");
	expect_redacted("host=h\tpassword=x", "host=h\tpassword=****");
	/* no password: unchanged */
	expect_redacted("host=/tmp dbname=shop", "host=/tmp dbname=shop");
	/* sslpassword (the client key's password) is a secret too */
	expect_redacted("sslpassword=keypw host=h", "sslpassword=**** host=h");
	/* a password followed by another one */
	expect_redacted("password=a password=b", "password=**** password=****");
}

/* URLs and conninfo strings that libpq reads differently from a plain
 * split: every case here printed (part of) the password before (issue 11,
 * defect 8) */
static void test_redact_as_libpq_reads(void **arg)
{
	(void)arg;
	/* libpq's credentials end at the first '@' before any '/', not at a
	 * '?' or '&': the password is "pa?ss=word" */
	expect_redacted("postgres://u:pa?ss=word@h/db", "postgres://u:****@h/db");
	expect_redacted("postgres://u:pa&x=1@h/db", "postgres://u:****@h/db");
	expect_redacted("postgres://u:a?b=c&d=e@h/db?sslmode=require",
			"postgres://u:****@h/db?sslmode=require");
	/* a '?' in the user name does not hide a password of the query */
	expect_redacted("postgres://a?b=c@h/db?password=secret&x=1",
			"postgres://a?b=c@h/db?password=****&x=1");
	/* libpq decodes the keys of the query */
	expect_redacted("postgres://u@h/db?pass%77ord=secret",
			"postgres://u@h/db?pass%77ord=****");
	expect_redacted("postgres://u@h/db?ssl%70assword=secret&x=1",
			"postgres://u@h/db?ssl%70assword=****&x=1");
	/* a conninfo value with a "://" in it is still conninfo */
	expect_redacted("host=h password=x://y@z", "host=h password=****");
	/* an escaped blank does not end an unquoted conninfo value */
	expect_redacted("host=h password=a\\ b", "host=h password=****");
	expect_redacted("host=h password=a\\ b\\ c dbname=d", "host=h password=**** dbname=d");
	/* blanks are every isspace() character */
	expect_redacted("host=h\npassword=x\rdbname=d", "host=h\npassword=****\rdbname=d");
	expect_redacted("host=h password\n=\fsecret", "host=h password\n=\f****");
	/* a word without '=' does not stop the reading */
	expect_redacted("oops password=secret", "oops password=****");
	/* a URL in another value (libpq does not expand it) is redacted too */
	expect_redacted("host=h dbname=postgres://u:pw@h/db", "host=h dbname=postgres://u:****@h/db");
	expect_redacted("dbname='postgres://u:pw@h/db?sslmode=require' user=u",
			"dbname='postgres://u:****@h/db?sslmode=require' user=u");
	/* an unterminated quote runs to the end */
	expect_redacted("password='sec ret host=h", "password=****");
}

/* the other shapes of URL */
static void test_redact_url_shapes(void **arg)
{
	(void)arg;
	expect_redacted("postgres://u:pw@[::1]:5432/db", "postgres://u:****@[::1]:5432/db");
	expect_redacted("postgres://[::1]:5432/db?password=pw",
			"postgres://[::1]:5432/db?password=****");
	expect_redacted("postgres://u:pw@h1:5432,h2:5433/db?target_session_attrs=any",
			"postgres://u:****@h1:5432,h2:5433/db?target_session_attrs=any");
	expect_redacted("postgres://u:p%40ss%23@h/db", "postgres://u:****@h/db");
	expect_redacted("postgres://u:p#a@ss@h/db", "postgres://u:****@h/db");
	expect_redacted("postgres://u@h/db?sslpassword=keypw",
			"postgres://u@h/db?sslpassword=****");
	expect_redacted("postgres://u@h/db?password=a?b=c", "postgres://u@h/db?password=****");
	expect_redacted("mysql://u:pw@h:3306/db", "mysql://u:****@h:3306/db");
	/* an '&' before any '?' starts no query parameter */
	expect_redacted("mysql://u:pa&x='y@h/db", "mysql://u:****@h/db");
}

static void test_redact_null(void **arg)
{
	char *s;

	(void)arg;
	s = mg_redact_url(NULL);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

/* ---- hashing --------------------------------------------------------------------- */

static void test_sha256_vectors(void **arg)
{
	char out[65];

	(void)arg;
	/* FIPS 180-2, appendix B.1 */
	mg_sha256_hex(out, "abc", 3);
	assert_string_equal(out,
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	mg_sha256_hex(out, "", 0);
	assert_string_equal(out,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* B.2: 448 bits */
	mg_sha256_hex(out, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
	assert_string_equal(out,
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_file(void **arg)
{
	char path[] = "/tmp/mg_test_util_XXXXXX";
	char out[65], want[65];
	struct mg_err err = MG_ERR_INIT;
	int fd = mkstemp(path);
	FILE *f;

	(void)arg;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("abc", f);
	fclose(f);
	assert_int_equal(mg_sha256_file(out, path, &err), 0);
	mg_sha256_hex(want, "abc", 3);
	assert_string_equal(out, want);
	unlink(path);

	assert_int_equal(mg_sha256_file(out, path, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_non_null(strstr(err.msg, path));
}

/* ---- numbers ------------------------------------------------------------------------ */

static void test_parse_long(void **arg)
{
	char big[64];
	long v = -7;

	(void)arg;
	assert_int_equal(mg_parse_long("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mg_parse_long("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(mg_parse_long("007", &v), 0);
	assert_int_equal(v, 7);
	snprintf(big, sizeof(big), "%ld", LONG_MAX);
	assert_int_equal(mg_parse_long(big, &v), 0);
	assert_true(v == LONG_MAX);

	v = -7;
	assert_int_equal(mg_parse_long(NULL, &v), -1);
	assert_int_equal(mg_parse_long("", &v), -1);
	assert_int_equal(mg_parse_long("-1", &v), -1);
	assert_int_equal(mg_parse_long("+1", &v), -1);
	assert_int_equal(mg_parse_long(" 1", &v), -1);
	/* no leading white space of any kind (strtol would skip it) */
	assert_int_equal(mg_parse_long(" 5", &v), -1);
	assert_int_equal(mg_parse_long("\t5", &v), -1);
	assert_int_equal(mg_parse_long("\n5", &v), -1);
	assert_int_equal(mg_parse_long("\v5", &v), -1);
	assert_int_equal(mg_parse_long("1 ", &v), -1);
	assert_int_equal(mg_parse_long("12abc", &v), -1);
	assert_int_equal(mg_parse_long("0x10", &v), -1);
	assert_int_equal(mg_parse_long("1.5", &v), -1);
	assert_int_equal(mg_parse_long("99999999999999999999999", &v), -1);
	/* a failure leaves out alone */
	assert_int_equal(v, -7);
}

/* ---- errors --------------------------------------------------------------------------- */

static void test_err_set_and_hint(void **arg)
{
	struct mg_err err = MG_ERR_INIT;

	(void)arg;
	assert_int_equal(err.code, MG_OK);
	assert_int_equal(mg_err_set(&err, MG_EINPUT, "unknown key '%s' at %s:%d:%d",
				    "colum", "0003_add.yaml", 5, 7), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_string_equal(err.msg, "unknown key 'colum' at 0003_add.yaml:5:7");
	assert_string_equal(err.hint, "");
	assert_int_equal(mg_err_hint(&err, "did you mean '%s'?", "column"), -1);
	assert_string_equal(err.hint, "did you mean 'column'?");
	assert_int_equal(err.code, MG_EINPUT);

	/* a new message forgets the old hint */
	mg_err_set(&err, MG_EDB, "connection lost");
	assert_int_equal(err.code, MG_EDB);
	assert_string_equal(err.msg, "connection lost");
	assert_string_equal(err.hint, "");

	mg_err_clear(&err);
	assert_int_equal(err.code, MG_OK);
	assert_string_equal(err.msg, "");
	assert_string_equal(err.hint, "");

	/* a NULL err is allowed and still says failure */
	assert_int_equal(mg_err_set(NULL, MG_EDB, "x"), -1);
	assert_int_equal(mg_err_hint(NULL, "x"), -1);
}

static void test_err_truncates(void **arg)
{
	struct mg_err err = MG_ERR_INIT;
	char *longer = mg_xmalloc(5001);

	(void)arg;
	memset(longer, 'm', 5000);
	longer[5000] = '\0';
	mg_err_set(&err, MG_EDB, "%s", longer);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	mg_err_hint(&err, "%s", longer);
	assert_int_equal(strlen(err.hint), sizeof(err.hint) - 1);
	free(longer);
}

static void test_err_prefix(void **arg)
{
	struct mg_err err = MG_ERR_INIT;
	char *longer;

	(void)arg;
	mg_err_set(&err, MG_EREFUSED, "index \"i\" is invalid");
	mg_err_hint(&err, "rebuild it");
	mg_err_prefix(&err, "expand %04d: ", 3);
	assert_string_equal(err.msg, "expand 0003: index \"i\" is invalid");
	/* code and hint untouched */
	assert_int_equal(err.code, MG_EREFUSED);
	assert_string_equal(err.hint, "rebuild it");
	mg_err_prefix(&err, "%s", "");
	assert_string_equal(err.msg, "expand 0003: index \"i\" is invalid");

	/* a message near the limit: the prefix wins, the end is cut */
	longer = mg_xmalloc(sizeof(err.msg) + 1);
	memset(longer, 'z', sizeof(err.msg));
	longer[sizeof(err.msg)] = '\0';
	mg_err_set(&err, MG_EDB, "%s", longer);
	mg_err_prefix(&err, "contract: ");
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	assert_memory_equal(err.msg, "contract: zzz", 13);
	free(longer);
}

/* ---- time ------------------------------------------------------------------------------ */

static void test_time(void **arg)
{
	char iso[32];
	int64_t t0 = mg_now_ms(), t1;

	(void)arg;
	mg_sleep_ms(20);
	t1 = mg_now_ms();
	assert_true(t1 - t0 >= 19);
	mg_iso_time(iso);
	/* 2026-11-25T19:08:21Z */
	assert_int_equal(strlen(iso), 20);
	assert_int_equal(iso[4], '-');
	assert_int_equal(iso[10], 'T');
	assert_int_equal(iso[19], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_starts_empty),
		cmocka_unit_test(test_buf_add),
		cmocka_unit_test(test_buf_grows),
		cmocka_unit_test(test_buf_reset_keeps_memory),
		cmocka_unit_test(test_buf_detach),
		cmocka_unit_test(test_xasprintf_and_strdup),
		cmocka_unit_test(test_strlist),
		cmocka_unit_test(test_redact_url_password),
		cmocka_unit_test(test_redact_url_without_password),
		cmocka_unit_test(test_redact_url_query_password),
		cmocka_unit_test(test_redact_url_password_with_at),
		cmocka_unit_test(test_redact_url_query_every_password),
		cmocka_unit_test(test_redact_url_password_with_slash),
		cmocka_unit_test(test_redact_conninfo),
		cmocka_unit_test(test_redact_as_libpq_reads),
		cmocka_unit_test(test_redact_url_shapes),
		cmocka_unit_test(test_redact_null),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_file),
		cmocka_unit_test(test_parse_long),
		cmocka_unit_test(test_err_set_and_hint),
		cmocka_unit_test(test_err_truncates),
		cmocka_unit_test(test_err_prefix),
		cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
