/* Error codes shared by every module: functions return 0 or a negative EVF_E* value and
 * write a one-line message (without the "evfarm: " prefix) into a buffer the caller owns. */
#ifndef EVF_ERROR_H
#define EVF_ERROR_H

#include <stddef.h>
#include <stdio.h>

/* X(name, value, exit code, description).  The most negative code wins when ranks agree
 * with MPI_MIN, so runtime errors (exit 3) sort below usage errors (exit 2). */
#define EVF_ERRNO_MAP(X)                                                  \
  X(EVF_EUSAGE, -1, 2, "bad input")                                       \
  X(EVF_ENOMEM, -2, 3, "out of memory")                                   \
  X(EVF_EIO, -3, 3, "input/output error")                                 \
  X(EVF_ELOOP, -4, 3, "event loop error")

enum evf_errno {
#define EVF_X_ENUM(name, val, exitcode, desc) name = (val),
  EVF_ERRNO_MAP(EVF_X_ENUM)
#undef EVF_X_ENUM
};

/* Length of the message buffers passed around with errors: room for the reason after an
 * echoed value, which evf_clip() keeps to EVF_CLIP_LEN bytes. */
#define EVF_ERRMSG_LEN 2048
#define EVF_CLIP_LEN 400

/* A short description of `code` ("bad input"). */
const char *evf_strerror(int code);
/* The program exit code for error `code` (0 for 0). */
int evf_error_exit_code(int code);

/* printf into a message buffer; returns `code` so callers can write
 *   return evf_seterr(msg, EVF_EUSAGE, "--tasks: '%s' is not a number", s); */
int evf_seterr(char *msg, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* `s` itself, or when longer than EVF_CLIP_LEN bytes its start and end around "...": for
 * echoing a user's value in a message without pushing out the reason.  The result lives until
 * the fourth next call. */
const char *evf_clip(const char *s);

/* Print "evfarm: <formatted>\n" to `err` in one write, so lines of several ranks sharing a
 * terminal never interleave mid-line. */
void evf_errorf(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
