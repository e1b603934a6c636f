/* Error codes, their descriptions and exit codes, and the one place messages are formatted. */
#include "error.h"

#include <stdarg.h>

const char *evf_strerror(int code)
{
  switch (code) {
  case 0: return "success";
#define EVF_X_STR(name, val, exitcode, desc) case name: return desc;
  EVF_ERRNO_MAP(EVF_X_STR)
#undef EVF_X_STR
  }
  return "unknown error";
}

int evf_error_exit_code(int code)
{
  switch (code) {
  case 0: return 0;
#define EVF_X_EXIT(name, val, exitcode, desc) case name: return exitcode;
  EVF_ERRNO_MAP(EVF_X_EXIT)
#undef EVF_X_EXIT
  }
  return 3;
}

int evf_seterr(char *msg, int code, const char *fmt, ...)
{
  if (msg) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, EVF_ERRMSG_LEN, fmt, ap);
    va_end(ap);
  }
  return code;
}

void evf_errorf(FILE *err, const char *fmt, ...)
{
  va_list ap;
  if (!err)
    return;
  fputs("evfarm: ", err);
  va_start(ap, fmt);
  vfprintf(err, fmt, ap);
  va_end(ap);
  fputc('\n', err);
  fflush(err);
}
