"""The command line behaves like the tools people know (issue 16, items 4
and 5): options parsed per command, did-you-mean, `migrate help CMD`, -V,
grouped short flags, `--`, durations with units on the command line, in
the environment and in migrate.yaml (bare numbers keep their old unit),
environment variables for the tuning options, the colour state's own
option, and the man page and shell completions generated from the option
table and installed by `cmake --install`."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2]
COMMANDS = ["init", "new", "status", "plan", "expand", "backfill", "switch-reads",
            "contract", "rollback", "colour", "check", "lint", "log"]


def err_line(r):
    return r.err.splitlines()[0] if r.err else ""


# --------------------------------------------------------------------------
# options per command


@pytest.mark.parametrize("argv, message", [
    (["status", "--jobs", "4"],
     "option '--jobs' is not taken by 'status'; it is taken by: backfill"),
    (["--jobs", "4", "status"],          # before the command too
     "option '--jobs' is not taken by 'status'; it is taken by: backfill"),
    (["log", "--max-tx-age", "5"],
     "option '--max-tx-age' is not taken by 'log'; it is taken by: expand, "
     "switch-reads, contract, rollback"),
    (["lint", "--wait-lock", "5s"],
     "option '--wait-lock' is not taken by 'lint'; it is taken by: expand, backfill, "
     "switch-reads, contract, rollback, colour"),
    (["backfill", "--interval", "1s"],
     "option '--interval' is not taken by 'backfill'; it is taken by: status"),
    (["plan", "--format", "json"],
     "option '--format' is not taken by 'plan'; it is taken by: lint"),
    (["status", "--force"],
     "option '--force' is not taken by 'status'; it is taken by: init"),
])
def test_an_option_the_command_does_not_take_is_exit_2(cli, argv, message):
    r = cli.run_raw(*argv)
    assert r.rc == 2, r.describe()
    assert err_line(r) == "error: " + message, r.describe()
    assert "migrate help %s" % argv[-1 if argv[0].startswith("-") else 0] in r.err or \
        "migrate help" in r.err, r.describe()


def test_global_options_are_taken_by_every_command_before_or_after(cli, tmp_path):
    (tmp_path / "migrations").mkdir()
    (tmp_path / "settings.yaml").write_text("jobs: 2\nsleep: 1s\n")
    for argv in (["lint", "--json", "-q", "--network-timeout", "5s", "--config",
                  "settings.yaml", "--state-file", "s.db", "--state", "s.db", "-m", "migrations"],
                 ["--json", "-q", "--network-timeout", "5s", "--state-file", "s.db",
                  "-m", "migrations", "lint"]):
        r = cli.run_raw(*argv)
        assert r.rc == 0, r.describe()
        assert '"findings": []' in r.out, r.describe()


# --------------------------------------------------------------------------
# did-you-mean, help CMD, -V, grouped short flags, --


@pytest.mark.parametrize("typo, meant", [("staus", "status"), ("swtich-reads", "switch-reads"),
                                         ("rolback", "rollback"), ("colur", "colour"),
                                         ("lnit", "init")])
def test_a_mistyped_command_says_what_was_meant(cli, typo, meant):
    r = cli.run_raw(typo)
    assert r.rc == 2, r.describe()
    assert err_line(r) == f"error: unknown command '{typo}': did you mean '{meant}'?", r.describe()


def test_a_command_far_from_every_other_gets_no_guess(cli):
    r = cli.run_raw("frobnicate")
    assert r.rc == 2 and "did you mean" not in r.err, r.describe()
    assert "migrate --help" in r.err, r.describe()


@pytest.mark.parametrize("argv, meant", [
    (["status", "--evnets", "3"], "--events"),
    (["backfill", "--jbos", "2"], "--jobs"),
    (["--databse", "x", "status"], "--database"),
    (["expand", "--lock-timout=1s"], "--lock-timeout"),
    (["colour", "set", "blue", "--colour-sate", "live"], "--colour-state"),
])
def test_a_mistyped_option_says_what_was_meant(cli, argv, meant):
    r = cli.run_raw(*argv)
    assert r.rc == 2, r.describe()
    assert f"did you mean '{meant}'?" in err_line(r), r.describe()


@pytest.mark.parametrize("cmd", COMMANDS + ["color"])
def test_help_cmd_is_cmd_help(cli, cmd):
    a, b = cli.run_raw("help", cmd), cli.run_raw(cmd, "--help")
    assert a.rc == b.rc == 0, a.describe() + b.describe()
    assert a.out == b.out and a.out.startswith("usage: migrate "), a.describe()


def test_help_alone_is_the_usage_and_help_of_nothing_is_exit_2(cli):
    a, b = cli.run_raw("help"), cli.run_raw("--help")
    assert a.rc == 0 and a.out == b.out, a.describe()
    for cmd in COMMANDS:
        assert f"\n  {cmd} " in a.out, a.describe()
    r = cli.run_raw("help", "stauts")
    assert r.rc == 2 and "did you mean 'status'?" in r.err, r.describe()


@pytest.mark.parametrize("argv", [["-V"], ["-vV"], ["-qV"], ["status", "-V"]])
def test_short_version_and_grouped_flags(cli, argv):
    r, long_ = cli.run_raw(*argv), cli.run_raw("--version")
    assert r.rc == 0 and r.out == long_.out, r.describe()
    assert re.match(r"migrate \d+\.\d+\.\d+\n", r.out), r.describe()
    # a test build says so (the release binary says "no test hooks":
    # test_release_build.py)
    assert "test build: honours MIGRATE_FAULT" in r.out, r.describe()


def test_grouped_flags_then_a_value_attached_and_an_unknown_one(cli, tmp_path):
    migs = tmp_path / "elsewhere"
    migs.mkdir()
    (migs / "0001_x.yaml").write_text("operations:\n  - sql: {up: SELECT 1, down: SELECT 1}\n")
    r = cli.run_raw("-qm" + str(migs), "lint", "--format", "json")   # -q, then -m DIR
    assert r.rc in (0, 1) and '"files": 1' in r.out, r.describe()
    r = cli.run_raw("-qx", "lint")
    assert r.rc == 2 and "unknown option '-x' in '-qx'" in r.err, r.describe()


def test_double_dash_ends_the_options(cli, tmp_path):
    (tmp_path / "migrations").mkdir()
    (tmp_path / "-odd.yaml").write_text("operations: []\n")
    r = cli.run_raw("lint", "-odd.yaml")
    assert r.rc == 2 and "unknown option '-o'" in r.err, r.describe()
    r = cli.run_raw("lint", "--", "-odd.yaml")
    assert r.rc == 0 and "-odd.yaml: warning[file-ignored]" in r.out, r.describe()


# --------------------------------------------------------------------------
# --state: the colour's state after 'colour', the state file elsewhere


def test_a_misspelt_colour_state_is_refused_with_the_nearest(cli):
    r = cli.run_raw("colour", "set", "blue", "--state", "retierd")
    assert r.rc == 2, r.describe()
    assert "did you mean 'retired'?" in err_line(r), r.describe()
    assert "--state-file PATH" in r.err, r.describe()
    for argv in (["colour", "register", "blue", "--state", "./state.db"],
                 ["colour", "set", "blue", "--colour-state", "gone"],
                 ["color", "set", "blue", "--color-state=bogus"]):
        r = cli.run_raw(*argv)
        assert r.rc == 2 and "unknown colour state" in r.err, r.describe()
    assert not (cli.cwd / "retierd").exists() and not (cli.cwd / ".migrate").exists()


@pytest.mark.parametrize("argv", [["status", "--state", "retired"],
                                  ["--state", "live", "expand"],
                                  ["log", "--colour-state", "standby"]])
def test_a_colour_state_outside_colour_is_refused(cli, argv):
    r = cli.run_raw(*argv)
    assert r.rc == 2, r.describe()
    assert "is a colour state, which only 'colour register' and 'colour set' take" \
        in err_line(r), r.describe()
    assert "--state-file PATH" in r.err, r.describe()


def test_state_file_and_colour_state_spellings(project):
    p = project
    url, migs = ["-d", p.db.url], ["-m", p.migrations]
    other = p.dir / "vol" / "other.db"
    base = [*url, *migs]
    # the new names
    r = p.run_raw(*base, "colour", "register", "blue", "--app-version", "1", "--requires", "0",
                  "--colour-state", "standby", "--state-file", other)
    assert r.rc == 0, r.describe()
    assert other.exists() and not p.state.exists()
    r = p.run_raw(*base, "--state-file", other, "color", "set", "blue", "--color-state", "live")
    assert r.rc == 0, r.describe()
    # the old ones (contract): --state PATH before 'colour', --state STATE after it
    r = p.run_raw(*base, "--state", other, "colour", "set", "blue", "--state", "standby")
    assert r.rc == 0, r.describe()
    r = p.run_raw(*base, "--state", "retired", "--state", other, "colour", "set", "blue")
    assert r.rc == 0, r.describe()
    doc = p.run_raw(*base, "--json", "status", "--state-file", other)
    assert doc.rc == 0 and '"retired"' in doc.out, doc.describe()
    # MIGRATE_STATE is the file, as --state PATH is outside colour
    r = p.run_raw(*base, "colour", "list", "--json", env={"MIGRATE_STATE": other})
    assert r.rc == 0 and '"blue"' in r.out and '"retired"' in r.out, r.describe()
    r = p.run_raw(*base, "status", "--state", other)
    assert r.rc == 0, r.describe()


# --------------------------------------------------------------------------
# durations and environment variables


@pytest.mark.parametrize("argv, env, config, names", [
    (["backfill", "--sleep", "5x"], {}, None, "option '--sleep'"),
    (["backfill", "--sleep=ms5"], {}, None, "option '--sleep'"),
    (["backfill"], {"MIGRATE_SLEEP": "5x"}, None, "MIGRATE_SLEEP (environment)"),
    (["backfill"], {}, "sleep: 5x\n", "'sleep' at migrate.yaml:1:8"),
    (["expand"], {"MIGRATE_LOCK_TIMEOUT": "soon"}, None, "MIGRATE_LOCK_TIMEOUT (environment)"),
    (["status", "--network-timeout", "1y"], {}, None, "option '--network-timeout'"),
    (["colour", "list", "--ttl", "forever"], {}, None, "option '--ttl'"),
])
def test_a_bad_duration_names_its_source_and_the_accepted_forms(cli, argv, env, config, names):
    if config:
        (cli.cwd / "migrate.yaml").write_text(config)
    r = cli.run_raw(*argv, env=env)
    assert r.rc == 2, r.describe()
    assert names in err_line(r), r.describe()
    assert "expected a duration such as 500ms, 2s, 1.5s, 5m, 1h30m or 1d" in r.err, r.describe()


@pytest.mark.parametrize("argv, env, message", [
    (["expand", "--max-tx-age", "1500ms"], {},
     "bad value '1500ms' for option '--max-tx-age': expected whole seconds"),
    (["backfill", "--target-batch-ms", "0.009s"], {},
     "bad value '9' for option '--target-batch-ms': expected at least 10 (ms)"),
    (["backfill", "--target-batch-ms", "9"], {},          # bare: ms, as before
     "bad value '9' for option '--target-batch-ms': expected at least 10 (ms)"),
    (["status"], {"MIGRATE_NETWORK_TIMEOUT": "99"},      # bare: ms, as before
     "bad value '99' for MIGRATE_NETWORK_TIMEOUT (environment): expected at least 100ms"),
    (["backfill"], {"MIGRATE_JOBS": "65"},
     "bad value '65' for MIGRATE_JOBS (environment): expected 1 to 64"),
    (["backfill"], {"MIGRATE_JOBS": "many"},
     "bad value 'many' for MIGRATE_JOBS (environment): expected a non-negative whole number"),
    (["status", "--interval", "50ms"], {},
     "bad value '50' for option '--interval': expected at least 100ms"),
])
def test_values_out_of_range_name_their_source(cli, argv, env, message):
    r = cli.run_raw(*argv, env=env)
    assert r.rc == 2, r.describe()
    assert err_line(r).startswith("error: " + message), r.describe()


def hold_users_lock(db):
    """A session holding a lock on users that expand must wait for;
    released by the returned function."""
    conn = db.connect(autocommit=False, application_name="lock-holder")
    conn.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")

    def release():
        conn.rollback()
        conn.close()
    return release


def lock_wait_ms(r):
    """The lock timeout expand says it waited per try."""
    assert r.rc == 3, r.describe()
    m = re.search(r"lock not granted within (\d+) ms", r.err)
    assert m, r.describe()
    return int(m.group(1))


def test_lock_timeout_from_the_command_line_the_environment_and_migrate_yaml(users_project):
    """--lock-timeout as a duration, a bare number (ms, as before), from
    MIGRATE_LOCK_TIMEOUT and from migrate.yaml: command line > environment
    > migrate.yaml > default. Observed in what expand says it waited."""
    p = users_project
    p.env["MIGRATE_MAX_TX_AGE"] = "1h"      # the lock holder is no long transaction
    once = ["--lock-retries", "1"]
    release = hold_users_lock(p.db)
    try:
        assert lock_wait_ms(p.run("expand", "--lock-timeout", "0.1s", *once)) == 100
        assert lock_wait_ms(p.run("expand", "--lock-timeout", "150", *once)) == 150
        env = {"MIGRATE_LOCK_TIMEOUT": "120ms", "MIGRATE_LOCK_RETRIES": "1"}
        assert lock_wait_ms(p.run("expand", env=env)) == 120
        assert lock_wait_ms(p.run("expand", "--lock-timeout", "110ms", env=env)) == 110
        (p.dir / "migrate.yaml").write_text("lock_timeout: 130ms\nlock_retries: 1\n")
        assert lock_wait_ms(p.run("expand", env=env)) == 120
        assert lock_wait_ms(p.run("expand")) == 130
        (p.dir / "migrate.yaml").write_text("lock_timeout: 140\nlock_retries: 1\n")
        assert lock_wait_ms(p.run("expand")) == 140                 # bare: ms
    finally:
        release()
    assert p.phases() == {1: "pending"}
    p.ok("expand", "--lock-timeout", "2s", "--max-tx-age", "1m", "--statement-timeout", "1m")
    assert p.phases() == {1: "expanded"}


# --------------------------------------------------------------------------
# man page and completions, installed by cmake --install


def build_dir(migrate_bin):
    d = Path(migrate_bin).parent
    assert (d / "CMakeCache.txt").exists(), f"{d} is not a CMake build directory"
    return d


@pytest.fixture(scope="module")
def installed(migrate_bin, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["cmake", "--install", str(build_dir(migrate_bin)), "--prefix",
                        str(prefix)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return prefix


def listed_options(migrate_bin):
    """Every long option the help texts list, per command."""
    out = {}
    for cmd in COMMANDS + [None]:
        text = subprocess.run([migrate_bin, *([cmd] if cmd else []), "--help"],
                              capture_output=True, text=True, timeout=30).stdout
        out[cmd] = set(re.findall(r"^\s+(?:-\w, )?(--[a-z-]+)", text, re.M))
    return out


def test_install_puts_man_page_and_completions_in_place(installed, migrate_bin):
    for rel in ("bin/migrate", "share/man/man1/migrate.1",
                "share/bash-completion/completions/migrate",
                "share/zsh/site-functions/_migrate",
                "share/fish/vendor_completions.d/migrate.fish"):
        assert (installed / rel).is_file(), rel
    r = subprocess.run([installed / "bin/migrate", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("migrate "), r.stderr


def test_man_page_renders_with_every_command_and_option(installed, migrate_bin):
    page = installed / "share/man/man1/migrate.1"
    r = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "MANWIDTH": "100", "MANPAGER": "cat", "PAGER": "cat"})
    assert r.returncode == 0, r.stderr
    text = re.sub(r".\x08", "", r.stdout)
    for section in ("NAME", "SYNOPSIS", "COMMANDS", "GLOBAL OPTIONS", "ENVIRONMENT",
                    "EXIT STATUS"):
        assert re.search(rf"^{section}$", text, re.M), section
    for cmd in COMMANDS:
        assert re.search(rf"^   {re.escape(cmd)}$", text, re.M), cmd
    for cmd, options in listed_options(migrate_bin).items():
        for option in options:
            assert option in text, (cmd, option)
    for var in ("MIGRATE_LOCK_TIMEOUT", "MIGRATE_JOBS", "MIGRATE_WAIT_LOCK",
                "MIGRATE_METRICS_FILE", "MIGRATE_DATABASE_URL", "MIGRATE_STATE",
                "MIGRATE_FLEET", "MIGRATE_FLEET_JOBS"):
        assert var in text, var
    if shutil.which("mandoc"):
        lint = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", str(page)],
                              capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def bash_complete(installed, *words):
    """COMPREPLY of the installed bash completion for the command line
    `words` (the last word is the one being completed), in an
    interactive bash."""
    words = ["migrate", *words]
    script = (f"source {installed}/share/bash-completion/completions/migrate\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n"
              "_migrate\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-i", "-c", script],
                       capture_output=True, text=True, timeout=30, cwd=installed)
    assert r.returncode == 0, r.stderr
    return sorted(w for w in r.stdout.splitlines() if w)


def test_bash_completion(installed):
    assert bash_complete(installed, "sta") == ["status"]
    assert bash_complete(installed, "") == sorted(COMMANDS + ["help"])
    assert bash_complete(installed, "-d", "postgres://x", "back") == ["backfill"]
    assert bash_complete(installed, "backfill", "--j") == ["--jobs", "--json"]
    assert bash_complete(installed, "status", "--j") == ["--json"]
    assert "--max-runtime" in bash_complete(installed, "backfill", "--max-")
    assert bash_complete(installed, "colour", "") == sorted(
        ["register", "set", "heartbeat", "list", "forget"])
    assert bash_complete(installed, "colour", "set", "blue", "--state", "") == \
        ["live", "retired", "standby"]
    assert bash_complete(installed, "color", "set", "blue", "--colour-state", "r") == ["retired"]
    assert bash_complete(installed, "lint", "--format", "") == \
        sorted(["text", "json", "sarif", "github", "gcc"])
    assert bash_complete(installed, "lint", "--dialect", "m") == ["mysql"]
    assert bash_complete(installed, "help", "rol") == ["rollback"]
    # outside colour, --state is a path: files of the current directory
    assert "share" in bash_complete(installed, "status", "--state", "sh")


def test_zsh_and_fish_completions(installed):
    zsh_file = installed / "share/zsh/site-functions/_migrate"
    fish_file = installed / "share/fish/vendor_completions.d/migrate.fish"
    if not shutil.which("zsh") or not shutil.which("fish"):
        pytest.fail("zsh and fish are needed to check their completions: "
                    "apt-get install -y zsh fish", pytrace=False)
    r = subprocess.run(["zsh", "-n", str(zsh_file)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = zsh_file.read_text()
    assert text.startswith("#compdef migrate\n") and "--max-runtime" in text
    r = subprocess.run(["fish", "-n", str(fish_file)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

    def fish(line):
        r = subprocess.run(["fish", "--no-config", "-c",
                            f"source {fish_file}; complete -C '{line}'"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return sorted(l.split("\t")[0] for l in r.stdout.splitlines() if l)
    assert "status" in fish("migrate sta")
    assert fish("migrate backfill --jo") == ["--jobs"]
    assert fish("migrate status --jo") == []
    assert fish("migrate colour ") == sorted(["register", "set", "heartbeat", "list", "forget"])
    assert fish("migrate lint --format ") == sorted(["text", "json", "sarif", "github", "gcc"])


# --------------------------------------------------------------------------
# the build needs no test library when the tests are not built


def test_configure_without_the_test_library(tmp_path):
    """A machine without cmocka: pkg-config sees every library but it.
    `cmake -S . -B build` (MIGRATE_TESTS off) configures; with the tests
    on, configuring stops naming the package to install."""
    pcdirs = subprocess.run(["pkg-config", "--variable", "pc_path", "pkg-config"],
                            capture_output=True, text=True).stdout.strip().split(":")
    libdir = tmp_path / "pkgconfig"
    libdir.mkdir()
    for d in map(Path, pcdirs):
        for pc in d.glob("*.pc") if d.is_dir() else ():
            if pc.name != "cmocka.pc" and not (libdir / pc.name).exists():
                (libdir / pc.name).symlink_to(pc)
    env = {**os.environ, "PKG_CONFIG_LIBDIR": str(libdir)}
    env.pop("PKG_CONFIG_PATH", None)
    assert subprocess.run(["pkg-config", "--exists", "cmocka"], env=env).returncode != 0
    r = subprocess.run(["cmake", "-S", str(SOURCE), "-B", str(tmp_path / "plain")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cmocka" not in r.stdout + r.stderr
    # the same build directory, reconfigured (the compiler checks are cached)
    r = subprocess.run(["cmake", "-S", str(SOURCE), "-B", str(tmp_path / "plain"),
                        "-DMIGRATE_TESTS=ON", "-DMIGRATE_TEST_HOOKS=ON"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0
    assert "apt-get install -y libcmocka-dev" in r.stdout + r.stderr, r.stdout + r.stderr
