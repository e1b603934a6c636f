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

/* Length of the message buffers passed around with errors. */
#define EVF_ERRMSG_LEN 512

/* A short description of `code` ("bad input"). */
const char *evf_strerror(int code);
/* The program exit code for error `code` (0 for 0). */
int evf_error_exit_code(int code);

/* printf into a message buffer; returns `code` so callers can write
 *   return evf_seterr(msg, EVF_EUSAGE, "--tasks: '%s' is not a number", s); */
int evf_seterr(char *msg, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Print "evfarm: <formatted>\n" to `err`. */
void evf_errorf(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
