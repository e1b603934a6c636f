/* Assertions for evfarm's unit tests: they never compile out (no NDEBUG), report the file, line
 * and values, and count failures so one run shows every broken case of a table. */
#ifndef EVF_TEST_CHECK_H
#define EVF_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                               \
  do {                                                                            \
    check_count++;                                                                \
    if (!(cond)) {                                                                \
      check_failures++;                                                           \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);    \
    }                                                                             \
  } while (0)

#define CHECK_EQ_U64(a, b)                                                        \
  do {                                                                            \
    uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                  \
    check_count++;                                                                \
    if (check_a_ != check_b_) {                                                   \
      check_failures++;                                                           \
      fprintf(stderr, "%s:%d: %s == %s failed: %" PRIu64 " != %" PRIu64 "\n",     \
              __FILE__, __LINE__, #a, #b, check_a_, check_b_);                    \
    }                                                                             \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                     \
  do {                                                                            \
    double check_a_ = (a), check_b_ = (b);                                        \
    check_count++;                                                                \
    if (!(check_a_ - check_b_ <= (tol) && check_b_ - check_a_ <= (tol))) {        \
      check_failures++;                                                           \
      fprintf(stderr, "%s:%d: %s ~= %s failed: %.12g != %.12g\n", __FILE__,       \
              __LINE__, #a, #b, check_a_, check_b_);                              \
    }                                                                             \
  } while (0)

#define CHECK_STR(a, b)                                                           \
  do {                                                                            \
    const char *check_a_ = (a), *check_b_ = (b);                                  \
    check_count++;                                                                \
    if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {              \
      check_failures++;                                                           \
      fprintf(stderr, "%s:%d: %s == %s failed: '%s' != '%s'\n", __FILE__,         \
              __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                   \
              check_b_ ? check_b_ : "(null)");                                    \
    }                                                                             \
  } while (0)

/* End of main(): a summary line, and the exit status ctest reads. */
static inline int check_done(const char *name)
{
  printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
  return check_failures ? 1 : (check_count ? 0 : 1);
}

#endif
