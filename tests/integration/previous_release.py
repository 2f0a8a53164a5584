"""The previous release of migrate, built from this repository's own history
for the upgrade scenarios (test_upgrade_from_previous.py).

tests/previous_release names it: a tag and its commit. build(cache_dir)
exports that commit with `git archive` (the tag where the clone has it and it
names the same commit, else the commit itself: a clone without tags still
works) into cache_dir/<commit>/src, configures it with the test hooks on (so
MIGRATE_FAULT can stop it mid-way), the tests off, no sanitizer and -O1 (the
old binary only has to run a few phases: a short build matters more), builds
only the `migrate` target, and returns the binary's path.

The result is cached per build tree: the stamp file records the commit and
the flags, and a second call returns at once. A lock file serialises callers
(two pytest processes, or ctest's fixture and a test run by hand).

Every problem raises PreviousReleaseError, naming what is missing: the
upgrade tests fail, they are never skipped.

ctest runs this file as the fixture `upgrade_previous_build` (tests/
CMakeLists.txt), so the build time shows as a test of its own:

    /usr/bin/python3 tests/integration/previous_release.py BUILD/previous-release
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "tests" / "previous_release"
CMAKE_ARGS = ["-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_C_FLAGS_RELEASE=-O1",
              "-DMIGRATE_TEST_HOOKS=ON", "-DMIGRATE_TESTS=OFF",
              "-DMIGRATE_SANITIZE=OFF", "-DMIGRATE_FUZZ=OFF"]
# The compiler and flags of the build under test (clang with ASan in CI's
# second build) are not the old binary's business.
BUILD_ENV_DROP = ("CC", "CFLAGS", "LDFLAGS", "CPPFLAGS", "MAKEFLAGS")


class PreviousReleaseError(RuntimeError):
    pass


def recorded():
    """(tag, commit) from tests/previous_release."""
    fields = {}
    for line in RECORD.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            fields[key] = value.strip()
    if "tag" not in fields or len(fields.get("commit", "")) != 40:
        raise PreviousReleaseError(f"{RECORD}: expected a 'tag NAME' and a "
                                   "'commit <40 hex digits>' line")
    return fields["tag"], fields["commit"]


def _git(*args):
    return subprocess.run(["git", "-C", str(ROOT), *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def resolve():
    """The commit to build: the recorded one, checked against the tag when
    the clone has the tag."""
    tag, commit = recorded()
    if _git("rev-parse", "--git-dir").returncode != 0:
        raise PreviousReleaseError(
            f"{ROOT} is not a git clone: the upgrade tests build the previous "
            f"release ({tag}, {commit}) from the repository's history")
    p = _git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    if p.returncode == 0 and p.stdout.strip() != commit:
        raise PreviousReleaseError(
            f"tag {tag} names commit {p.stdout.strip()}, tests/previous_release "
            f"says {commit}: correct the file (or the tag)")
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise PreviousReleaseError(
            f"commit {commit} ({tag}) is not in this clone (a shallow clone?): "
            f"run 'git fetch --unshallow --tags' or 'git fetch origin tag {tag}'")
    return tag, commit


def _run(argv, log, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in BUILD_ENV_DROP}
    with open(log, "a") as f:
        f.write("$ " + " ".join(map(str, argv)) + "\n")
        f.flush()
        p = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=f, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        tail = "\n".join(Path(log).read_text(errors="replace").splitlines()[-40:])
        raise PreviousReleaseError(
            f"building the previous release failed: {' '.join(map(str, argv))} "
            f"exit {p.returncode} (log: {log})\n{tail}")


def _stamp_matches(stamp, want):
    try:
        return json.loads(stamp.read_text())["config"] == want
    except (OSError, ValueError, KeyError):
        return False


def build(cache_dir, jobs=2):
    """Build (or find already built) the previous release under cache_dir.
    Returns (binary path, tag, commit, seconds the build took: 0 when
    cached)."""
    tag, commit = resolve()
    home = Path(cache_dir) / commit
    home.mkdir(parents=True, exist_ok=True)
    binary = home / "build" / "migrate"
    stamp = home / "stamp.json"
    want = {"commit": commit, "cmake": CMAKE_ARGS}
    with open(home / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stamp_matches(stamp, want) and os.access(binary, os.X_OK):
            return str(binary), tag, commit, 0.0
        t0 = time.monotonic()
        stamp.unlink(missing_ok=True)
        for d in ("src", "build"):
            shutil.rmtree(home / d, ignore_errors=True)
        (home / "src").mkdir()
        log = home / "build.log"
        log.write_text("")
        tar = home / "src.tar"
        _run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(tar),
              commit], log)
        _run(["tar", "-x", "-f", str(tar), "-C", str(home / "src")], log)
        tar.unlink()
        _run(["cmake", "-S", str(home / "src"), "-B", str(home / "build"),
              *CMAKE_ARGS], log)
        _run(["cmake", "--build", str(home / "build"), "--target", "migrate",
              f"-j{jobs}"], log)
        if not os.access(binary, os.X_OK):
            raise PreviousReleaseError(f"the build of {tag} made no {binary} "
                                       f"(log: {log})")
        took = time.monotonic() - t0
        stamp.write_text(json.dumps({"config": want, "seconds": round(took, 1)}))
        return str(binary), tag, commit, took


def default_cache_dir(migrate_bin):
    """Beside the binary under test: build/previous-release for build/migrate,
    so each build tree (plain, ASan) has its own."""
    return Path(migrate_bin).resolve().parent / "previous-release"


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} CACHE_DIR", file=sys.stderr)
        return 2
    try:
        path, tag, commit, took = build(argv[1])
    except PreviousReleaseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if took:
        print(f"built {tag} ({commit[:12]}) in {took:.1f} s: {path}")
    else:
        print(f"{tag} ({commit[:12]}) already built: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
