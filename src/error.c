/* Error codes, their descriptions and exit codes, and the one place messages are formatted. */
#include "error.h"

#include <stdarg.h>
#include <string.h>

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

const char *evf_clip(const char *s)
{
  static char bufs[4][EVF_CLIP_LEN + 64];
  static int next;
  size_t n = strlen(s);
  if (n <= EVF_CLIP_LEN)
    return s;
  char *b = bufs[next++ % 4];
  size_t half = EVF_CLIP_LEN / 2;
  snprintf(b, sizeof bufs[0], "%.*s...(%zu bytes)...%s", (int)half, s, n, s + n - half);
  return b;
}

void evf_errorf(FILE *err, const char *fmt, ...)
{
  char line[EVF_ERRMSG_LEN + 64];
  va_list ap;
  if (!err)
    return;
  memcpy(line, "evfarm: ", 8);
  va_start(ap, fmt);
  int n = vsnprintf(line + 8, sizeof line - 9, fmt, ap);
  va_end(ap);
  size_t len = 8 + (n < 0 ? 0 : (size_t)n < sizeof line - 9 ? (size_t)n : sizeof line - 10);
  line[len++] = '\n';
  fwrite(line, 1, len, err);
  fflush(err);
}
