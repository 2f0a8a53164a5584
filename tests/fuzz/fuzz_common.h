/*
 * fuzz_common.h - what the libFuzzer targets share: a private directory in
 * /dev/shm (or $TMPDIR) for the files the parsers under test read by path.
 *
 * Every target is leak-free per input (LeakSanitizer runs at exit), so
 * nothing here allocates per call except what the caller frees.
 */
#ifndef MG_FUZZ_COMMON_H
#define MG_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The directory (created on first call, removed at exit). Borrowed. */
const char *fuzz_dir(void);
/* Write data[0..n) to fuzz_dir()/name, replacing it; the full path into
 * out[4096]. Aborts on an I/O error: that is the harness failing, not the
 * code under test. */
void fuzz_write_file(char out[4096], const char *name, const uint8_t *data,
		     size_t n);
/* A NUL-terminated copy of data[0..n) (malloc'd). */
char *fuzz_cstr(const uint8_t *data, size_t n);

#endif
