/* fuzz_common.c - see fuzz_common.h. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

static char dir[4096];

/* Remove p and everything under it (the targets make one level of
 * subdirectories at most, but recursion costs nothing here). */
static void remove_tree(const char *p)
{
	DIR *d = opendir(p);
	struct dirent *e;
	char sub[8192];

	if (!d) {
		unlink(p);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", p, e->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(p);
}

static void remove_dir(void)
{
	remove_tree(dir);
}

const char *fuzz_dir(void)
{
	const char *base;

	if (dir[0])
		return dir;
	base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/mg-fuzz-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(remove_dir);
	return dir;
}

void fuzz_write_file(char out[4096], const char *name, const uint8_t *data,
		     size_t n)
{
	int fd;

	snprintf(out, 4096, "%s/%s", fuzz_dir(), name);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (n && write(fd, data, n) != (ssize_t)n) || close(fd) != 0) {
		perror("fuzz: write");
		abort();
	}
}

char *fuzz_cstr(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}
