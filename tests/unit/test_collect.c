/* collect: records taken in any order are written in id order a whole window at a time; ids
 * beyond the two windows in the ring, ids already written and ids seen twice are refused; the
 * limit moves a window at a time; the stats see every record once. */
#include <stdlib.h>

#include "check.h"
#include "collect.h"
#include "task.h"

static struct evf_record rec(uint32_t id)
{
  struct evf_record r = {0};
  r.id = id;
  r.rank = (int32_t)(id % 2);
  r.iterations = id;
  r.cpu_time = id * 1e-3;
  r.attempts = 1;
  return r;
}

static int lines(const char *text)
{
  int n = 0;
  for (; *text; text++)
    n += *text == '\n';
  return n;
}

int main(void)
{
  static const char hosts[2][EVF_HOST_LEN] = {"h0", "h1"};
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  struct evf_recwriter w;
  CHECK_EQ_U64(evf_recwriter_init(&w, f, EVF_FORMAT_CSV, evf_task_kind_find("sim")), 0);
  struct evf_stats *st = evf_stats_new(2, NULL);
  struct evf_collect_config cfg = {.ntasks = 10, .window = 3, .rec_size = sizeof(struct evf_record),
                                   .nranks = 2, .writer = &w, .hosts = hosts, .stats = st};
  struct evf_collect *c = evf_collect_new(&cfg);
  CHECK(c != NULL && st != NULL);
  if (!c || !st)
    return 1;
  CHECK_EQ_U64(evf_collect_ring(c), 6);
  CHECK_EQ_U64(evf_collect_ring_size(10, 3), 6);
  CHECK_EQ_U64(evf_collect_ring_size(10, 5), 10); /* two windows hold them all */
  CHECK_EQ_U64(evf_collect_ring_size(10, 100), 10);
  CHECK_EQ_U64(evf_collect_limit(c), 6);
  struct evf_record r;
  /* Window 2 (ids 4..6) completes first: nothing is written until window 1 (1..3) has. */
  for (uint32_t id = 6; id >= 4; id--)
    CHECK_EQ_U64(evf_collect_take(c, (r = rec(id), &r)), 0);
  CHECK_EQ_U64(evf_collect_take(c, (r = rec(7), &r)), (uint64_t)-1); /* beyond the ring */
  CHECK_EQ_U64(evf_collect_take(c, (r = rec(5), &r)), (uint64_t)-1); /* twice */
  CHECK_EQ_U64(evf_collect_take(c, (r = rec(2), &r)), 0);
  CHECK_EQ_U64(evf_collect_take(c, (r = rec(3), &r)), 0);
  CHECK_EQ_U64(evf_collect_step(c, 100), 0);
  CHECK_EQ_U64(evf_collect_take(c, (r = rec(1), &r)), 0);
  /* Two windows complete: a step of 2 writes ids 1 and 2, the limit waits for the window. */
  CHECK_EQ_U64(evf_collect_step(c, 2), 2);
  CHECK_EQ_U64(evf_collect_limit(c), 6);
  CHECK_EQ_U64(evf_collect_step(c, 100), 4);
  CHECK_EQ_U64(evf_collect_written(c), 6);
  CHECK_EQ_U64(evf_collect_limit(c), 10); /* windows 3 and 4: ids 7..10 */
  CHECK_EQ_U64(evf_collect_take(c, (r = rec(4), &r)), (uint64_t)-1); /* written already */
  for (uint32_t id = 10; id >= 7; id--)
    CHECK_EQ_U64(evf_collect_take(c, (r = rec(id), &r)), 0);
  CHECK_EQ_U64(evf_collect_step(c, 100), 4);
  CHECK_EQ_U64(evf_collect_written(c), 10);
  evf_collect_free(c);
  CHECK_EQ_U64(evf_recwriter_free(&w), 0);
  fclose(f);
  CHECK_EQ_U64(lines(text), 10);
  /* In id order, each with its rank's host. */
  const char *at = text;
  for (int id = 1; id <= 10; id++) {
    char want[32];
    int n = snprintf(want, sizeof want, "%d,%d,h%d,", id, id % 2, id % 2);
    CHECK(strncmp(at, want, (size_t)n) == 0);
    at = strchr(at, '\n') + 1;
  }
  free(text);
  struct evf_summary s;
  CHECK_EQ_U64(evf_summary_finish(&s, st, 4, 1.0), 0);
  CHECK_EQ_U64(s.tasks, 10);
  CHECK(s.per_rank_tasks[0] == 5 && s.per_rank_tasks[1] == 5);
  CHECK_NEAR(s.cpu_total, 0.055, 1e-12);
  CHECK_NEAR(s.per_rank_busy[1], 0.025, 1e-12); /* ids 1, 3, 5, 7, 9 */
  evf_summary_free(&s);
  evf_stats_free(st);
  return check_done("test_collect");
}
