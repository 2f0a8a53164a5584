/*
 * fleet_run.c - one child migrate per target, at most `jobs` at once
 * (fleet.h). Each child is this same binary (/proc/self/exe) with the
 * target's URL in its environment, never on its argv (argv is visible in
 * ps); its stdout and stderr come back through pipes, so that the parent
 * can append both to the target's log in the order they arrive, keep
 * stdout (a JSON document) and pick the line the summary shows.
 */
#define _GNU_SOURCE
#include "fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "output.h"

/* A child while it runs. */
struct child {
	size_t target;		/* index into the fleet */
	pid_t pid;
	int fd[2];		/* its stdout and stderr, -1 once closed */
	int log;
	int64_t start;
	struct mg_buf partial[2];	/* an unfinished line of each */
	char *last_out, *last_err;
};

/* ---- files ------------------------------------------------------------------ */

static int mkdir_p(const char *dir, struct mg_err *err)
{
	char *p = mg_xstrdup(dir);

	for (char *s = p + 1; ; s++) {
		int end = *s == 0;

		if (*s != '/' && !end)
			continue;
		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			mg_err_set(err, MG_EDB, "cannot create directory '%s': %s", p, strerror(errno));
			free(p);
			return mg_err_hint(err, "check the fleet file's state_dir and its permissions");
		}
		if (end)
			break;
		*s = '/';
	}
	free(p);
	return 0;
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* a full disk loses log lines, not the run */
		s += w;
		n -= (size_t)w;
	}
}

static int open_log(const struct mg_fleet_target *t, const char *header, struct mg_err *err)
{
	int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	char now[32], *line;

	if (fd < 0) {
		mg_err_set(err, MG_EDB, "cannot open log file '%s': %s", t->log, strerror(errno));
		return mg_err_hint(err, "check the fleet file's state_dir and its permissions");
	}
	mg_iso_time(now);
	line = mg_xasprintf("==== %s  migrate %s  (target %s) ====\n", now, header, t->name);
	write_all(fd, line, strlen(line));
	free(line);
	return fd;
}

/* ---- starting a child ----------------------------------------------------------- */

/* In the child, after fork: never returns. */
static void exec_child(const struct mg_fleet_target *t, const struct mg_fleet_run *run,
		       int out, int errfd)
{
	char **argv = mg_xcalloc(run->argc + 2, sizeof(char *));
	sigset_t none;

	/* its own process group: a ^C on the terminal reaches the parent
	 * only, which forwards it once (a second signal would make the
	 * child exit at once instead of checkpointing) */
	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	dup2(out, 1);
	dup2(errfd, 2);
	setenv("MIGRATE_DATABASE_URL", t->url, 1);
	setenv("MIGRATE_STATE", t->state, 1);
	/* a child is one target: MIGRATE_FLEET would make it a fleet again */
	unsetenv("MIGRATE_FLEET");
	unsetenv("MIGRATE_FLEET_JOBS");
	argv[0] = (char *)"migrate";
	for (size_t i = 0; i < run->argc; i++)
		argv[i + 1] = (char *)run->argv[i];
	execv("/proc/self/exe", argv);
	fprintf(stderr, "error: cannot run migrate for target '%s': %s\n", t->name, strerror(errno));
	_exit(3);
}

static int start_child(struct child *c, const struct mg_fleet *f, size_t i,
		       const struct mg_fleet_run *run, struct mg_err *err)
{
	int out[2], errp[2];

	memset(c, 0, sizeof(*c));
	c->target = i;
	c->log = open_log(&f->targets[i], run->header, err);
	if (c->log < 0)
		return -1;
	out[0] = out[1] = errp[0] = errp[1] = -1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || (c->pid = fork()) < 0) {
		mg_err_set(err, MG_EDB, "cannot start migrate for target '%s': %s",
			   f->targets[i].name, strerror(errno));
		for (int k = 0; k < 2; k++) {
			if (out[k] >= 0)
				close(out[k]);
			if (errp[k] >= 0)
				close(errp[k]);
		}
		return mg_err_hint(err, "too many targets at once for this machine? lower "
				   "--fleet-jobs, then run the same command again");
	}
	if (c->pid == 0)
		exec_child(&f->targets[i], run, out[1], errp[1]);
	close(out[1]);
	close(errp[1]);
	c->fd[0] = out[0];
	c->fd[1] = errp[0];
	c->start = mg_now_ms();
	mg_buf_init(&c->partial[0]);
	mg_buf_init(&c->partial[1]);
	return 0;
}

/* ---- reading a child ---------------------------------------------------------------- */

/* A line worth showing in the summary: not empty, not a hint nor the
 * "next:" advice (the fleet's next command is the same for all), not a
 * JSON progress line; the text after a terminal's last carriage return. */
static const char *meaningful(char *line)
{
	char *cr = strrchr(line, '\r');

	if (cr)
		line = cr + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	if (!*line || !strncmp(line, "hint:", 5) || !strncmp(line, "next:", 5) ||
	    (line[0] == '{' && line[1] == '"'))
		return NULL;
	return line;
}

static void take_line(struct child *c, struct mg_fleet_result *r, int which, char *line)
{
	const char *m = meaningful(line);
	char **last = which == 0 ? &c->last_out : &c->last_err;

	if (!m)
		return;
	if (!strncmp(m, "error: ", 7) && !r->error)
		r->error = mg_xstrdup(m + 7);
	free(*last);
	*last = mg_xstrdup(m);
}

static void take_bytes(struct child *c, struct mg_fleet_result *r, int which,
		       const char *buf, size_t n)
{
	struct mg_buf *p = &c->partial[which];

	write_all(c->log, buf, n);
	if (which == 0)
		mg_buf_add(&r->out, buf, n);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			mg_buf_addc(p, buf[i]);
			continue;
		}
		take_line(c, r, which, p->buf);
		mg_buf_reset(p);
	}
}

/* Read what fd `which` of c has; close it at its end. */
static void drain(struct child *c, struct mg_fleet_result *r, int which)
{
	char buf[8192];
	ssize_t n = read(c->fd[which], buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		take_bytes(c, r, which, buf, (size_t)n);
		return;
	}
	if (c->partial[which].len)
		take_line(c, r, which, c->partial[which].buf);
	close(c->fd[which]);
	c->fd[which] = -1;
}

/* The summary's form of a child's last line: a long one is cut at its
 * first ": " ("0001_add_w is expanded: the old version keeps working ..."
 * is "0001_add_w is expanded"); the log has it whole. */
static char *summary_form(char *line)
{
	char *colon = line ? strstr(line, ": ") : NULL;

	if (colon && strlen(line) > 60 && colon - line >= 10)
		*colon = 0;
	return line;
}

/* Both pipes closed: reap it and fill its result. */
static void finish_child(struct child *c, struct mg_fleet_result *r)
{
	int status = 0;

	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	r->started = 1;
	r->ms = mg_now_ms() - c->start;
	r->exit = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
	if (r->exit > 3)
		r->exit = 3;	/* 127 (not run) and the like: a runtime error */
	r->last = summary_form(c->last_out ? c->last_out : c->last_err);
	if (c->last_out)
		free(c->last_err);
	if (!WIFEXITED(status)) {
		char *line = mg_xasprintf("killed by signal %d", WTERMSIG(status));

		write_all(c->log, line, strlen(line));
		write_all(c->log, "\n", 1);
		free(r->error);
		r->error = line;
	}
	close(c->log);
	mg_buf_release(&c->partial[0]);
	mg_buf_release(&c->partial[1]);
}

/* ---- progress on stderr ---------------------------------------------------------------- */

static void progress_line(const struct mg_fleet *f, const struct child *c,
			  const struct mg_fleet_result *r, size_t done, int fancy)
{
	char took[32];
	const char *what = r->exit && r->error ? r->error : r->last ? r->last : "";

	mg_format_duration(took, r->ms);
	fprintf(stderr, "%s[%zu/%zu] %s  exit %d  %.100s  %s\n", fancy ? "\r\033[K" : "",
		done, f->n, f->targets[c->target].name, r->exit, what, took);
}

static void running_line(const struct mg_fleet *f, const struct child *kids, size_t n)
{
	struct mg_buf b = MG_BUF_INIT;
	int width = mg_term_width(2);

	mg_buf_addf(&b, "\r\033[Krunning (%zu):", n);
	for (size_t i = 0; i < n && (int)b.len < width - 8; i++)
		mg_buf_addf(&b, " %s", f->targets[kids[i].target].name);
	if ((int)b.len > width + 4)
		b.len = (size_t)width + 4;	/* "\r\033[K" takes no column */
	fputs(b.buf, stderr);
	fflush(stderr);
	mg_buf_release(&b);
}

/* A child that could not start (its log cannot be opened, no fork): that
 * target fails with exit 3, the others run. */
static void start_failed(const struct mg_fleet *f, struct child *c, struct mg_fleet_result *r,
			size_t done, struct mg_err *err, int quiet)
{
	if (c->log > 0)
		close(c->log);
	r->started = 1;
	r->exit = 3;
	r->error = mg_xasprintf("%s", err->msg);
	if (!quiet)
		progress_line(f, c, r, done, 0);
	mg_err_clear(err);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void forward_stop(const struct child *kids, size_t n, int sig)
{
	for (size_t i = 0; i < n; i++)
		kill(kids[i].pid, sig);
}

/* Wait for output of any running child; read it; reap the finished.
 * Returns how many finished. */
static size_t step(const struct mg_fleet *f, struct child *kids, size_t *n_kids,
		   struct mg_fleet_result *res, size_t *done, const struct mg_fleet_run *run,
		   int fancy)
{
	struct pollfd *pfd = mg_xcalloc(2 * *n_kids + 1, sizeof(*pfd));
	size_t np = 0, finished = 0;

	for (size_t i = 0; i < *n_kids; i++)
		for (int w = 0; w < 2; w++)
			if (kids[i].fd[w] >= 0)
				pfd[np++] = (struct pollfd){ .fd = kids[i].fd[w], .events = POLLIN };
	if (poll(pfd, np, 250) < 0 && errno != EINTR) {
		free(pfd);
		return 0;
	}
	for (size_t i = 0; i < *n_kids; i++) {
		for (int w = 0; w < 2; w++)
			for (size_t p = 0; p < np; p++)
				if (pfd[p].fd == kids[i].fd[w] && (pfd[p].revents & (POLLIN | POLLHUP | POLLERR)))
					drain(&kids[i], &res[kids[i].target], w);
	}
	free(pfd);
	for (size_t i = 0; i < *n_kids;) {
		if (kids[i].fd[0] >= 0 || kids[i].fd[1] >= 0) {
			i++;
			continue;
		}
		finish_child(&kids[i], &res[kids[i].target]);
		++*done;
		if (!run->quiet)
			progress_line(f, &kids[i], &res[kids[i].target], *done, fancy);
		kids[i] = kids[--*n_kids];
		finished++;
	}
	return finished;
}

struct mg_fleet_result *mg_fleet_run(const struct mg_fleet *f, const struct mg_fleet_run *run,
				     int *stopped, struct mg_err *err)
{
	struct mg_fleet_result *res = mg_xcalloc(f->n, sizeof(*res));
	int jobs = run->jobs < 1 ? 1 : run->jobs > MG_FLEET_MAX_CONCURRENCY ?
		   MG_FLEET_MAX_CONCURRENCY : run->jobs;
	struct child *kids = mg_xcalloc((size_t)jobs, sizeof(*kids));
	size_t n_kids = 0, next = 0, done = 0;
	int fancy = !run->quiet && mg_term_fancy(2), forwarded = 0;

	*stopped = 0;
	for (size_t i = 0; i < f->n; i++)
		mg_buf_init(&res[i].out);
	if (mkdir_p(f->state_dir, err) < 0) {
		free(kids);
		mg_fleet_results_free(res, f->n);
		return NULL;
	}
	while ((next < f->n && !mg_stop_requested) || n_kids > 0) {
		while (n_kids < (size_t)jobs && next < f->n && !mg_stop_requested)
			if (start_child(&kids[n_kids], f, next, run, err) == 0)
				n_kids++, next++;
			else
				start_failed(f, &kids[n_kids], &res[next++], ++done, err, run->quiet);
		if (mg_stop_requested && !forwarded) {
			forward_stop(kids, n_kids, mg_stop_requested);
			forwarded = 1;
		}
		if (n_kids == 0)
			break;
		step(f, kids, &n_kids, res, &done, run, fancy);
		if (fancy && n_kids)
			running_line(f, kids, n_kids);
	}
	if (fancy)
		fputs("\r\033[K", stderr);
	free(kids);
	*stopped = mg_stop_requested != 0;
	return res;
}

void mg_fleet_results_free(struct mg_fleet_result *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		mg_buf_release(&r[i].out);
		free(r[i].last);
		free(r[i].error);
	}
	free(r);
}
