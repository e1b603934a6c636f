/* The record writer formats by hand; printf is the oracle.  Records with random and edge
 * values (ties that round to even, negative zero, tiny and huge times, extreme integers, names
 * and inputs that need quoting or escaping, every status) are written both ways, for every
 * kind and both formats, and must match byte for byte. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "output.h"
#include "task.h"

/* The writer before it was hand-formatted: one fprintf per field group. */
static void ref_record(FILE *fp, enum evf_format fmt, const struct evf_task_kind *kind,
                       const struct evf_record *r, const char *host, const char *input)
{
  const char *last = r->last_error ? evf_status_name(r->last_error) : "";
  if (fmt == EVF_FORMAT_JSONL) {
    fprintf(fp, "{\"id\":%" PRIu32 ",\"rank\":%" PRId32 ",\"host\":", r->id, r->rank);
    evf_json_string(fp, host);
    fprintf(fp,
            ",\"batch\":%" PRIu32 ",\"iterations\":%" PRIu32 ",\"value\":%" PRIu64
            ",\"io_delay\":%.6f,\"t_start\":%.6f,\"t_io_done\":%.6f,\"t_end\":%.6f"
            ",\"cpu_time\":%.9f,\"status\":\"%s\",\"attempts\":%u,\"last_error\":",
            r->batch, r->iterations, r->value, evf_record_io_delay(r), r->t_start, r->t_io_done,
            r->t_end, r->cpu_time, evf_status_name(r->status), (unsigned)r->attempts);
    if (r->last_error)
      fprintf(fp, "\"%s\"", last);
    else
      fputs("null", fp);
    if (kind->input_column) {
      fprintf(fp, ",\"%s\":", kind->input_column);
      evf_json_string(fp, input);
    }
    if (kind->write_ext)
      kind->write_ext(fp, fmt, r);
    fputs("}\n", fp);
  } else {
    fprintf(fp, "%" PRIu32 ",%" PRId32 ",", r->id, r->rank);
    evf_csv_field(fp, host);
    fprintf(fp, ",%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",%.6f,%.6f,%.6f,%.6f,%.9f,%s,%u,%s",
            r->batch, r->iterations, r->value, evf_record_io_delay(r), r->t_start, r->t_io_done,
            r->t_end, r->cpu_time, evf_status_name(r->status), (unsigned)r->attempts, last);
    if (kind->input_column) {
      fputc(',', fp);
      evf_csv_field(fp, input ? input : "");
    }
    if (kind->write_ext)
      kind->write_ext(fp, fmt, r);
    fputc('\n', fp);
  }
}

static uint64_t state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

/* A time as the runner makes them, or an edge case. */
static double rnd_time(void)
{
  static const double edge[] = {0.0, -0.0, 1.0 / 128, 3.0 / 128, 0.5e-6, 1.5e-6, 2.5e-9,
                                0.0000005, 0.0000015, 999999999.9999995, 1e9, 1e300, -1e-7,
                                -2.5, 5e-324, 0.125, 1.0 / 1024, 123.4567895, 4294.967295,
                                INFINITY, -INFINITY, NAN};
  switch (rnd() % 6) {
  case 0:
    return edge[rnd() % (sizeof edge / sizeof *edge)];
  case 1: /* a multiple of 2^-k: exact ties at 6 or 9 digits */
    return (double)(rnd() % 100000) / (double)(1ULL << (rnd() % 30));
  case 2:
    return ldexp((double)(rnd() >> 11), -(int)(rnd() % 120));
  case 3:
    return (double)(rnd() % 2000000) * 1e-6; /* whole microseconds, as printed */
  default:
    return (double)(rnd() >> 11) / 9007199254740992.0 * (double)(1 << (rnd() % 12));
  }
}

static const char *const names[] = {"node-a", "", "a,b", "say \"hi\"", "line\nbreak", "cr\r",
                                    "caf\xc3\xa9", "bad\xff byte", "tab\there", "back\\slash",
                                    "\x7f", "\xe2\x82"};

static void fill(struct evf_record *r, size_t size)
{
  unsigned char *b = (unsigned char *)r;
  for (size_t i = 0; i < size; i++)
    b[i] = (unsigned char)rnd();
  r->t_start = rnd_time();
  r->t_io_done = rnd_time();
  r->t_end = rnd_time();
  r->cpu_time = rnd_time();
  r->status = (uint8_t)(rnd() % EVF_STATUS_COUNT);
  r->last_error = (uint8_t)(rnd() % 3 ? 0 : rnd() % EVF_STATUS_COUNT);
  if (rnd() % 4 == 0) {
    r->id = UINT32_MAX;
    r->rank = INT32_MIN;
    r->batch = UINT32_MAX;
    r->iterations = UINT32_MAX;
    r->value = UINT64_MAX;
    evf_record_set_io_us(r, EVF_IO_US_MAX);
  }
  if (rnd() % 4 == 0) {
    r->id = 0;
    r->rank = 0;
    r->value = 0;
    evf_record_set_io_us(r, 0);
  }
}

int main(void)
{
  const struct evf_task_kind *kinds[] = {evf_task_kind_find("sim"), evf_task_kind_find("http"),
                                         evf_task_kind_find("exec")};
  for (int ki = 0; ki < 3; ki++) {
    const struct evf_task_kind *kind = kinds[ki];
    CHECK(kind != NULL);
    if (!kind)
      continue;
    size_t size = evf_task_record_size(kind);
    for (int fmt = 0; fmt < 2; fmt++) {
      enum evf_format f = fmt ? EVF_FORMAT_JSONL : EVF_FORMAT_CSV;
      char *want = NULL, *got = NULL;
      size_t wlen = 0, glen = 0;
      FILE *wf = open_memstream(&want, &wlen), *gf = open_memstream(&got, &glen);
      struct evf_recwriter w;
      CHECK_EQ_U64(evf_recwriter_init(&w, gf, f, kind), 0);
      evf_recwriter_header(&w);
      if (f == EVF_FORMAT_CSV) {
        fputs("id,rank,host,batch,iterations,value,io_delay,t_start,t_io_done,t_end,cpu_time,"
              "status,attempts,last_error", wf);
        if (kind->input_column)
          fprintf(wf, ",%s", kind->input_column);
        if (kind->csv_header)
          fputs(kind->csv_header, wf);
        fputc('\n', wf);
      }
      struct evf_record *r = calloc(1, size);
      for (int i = 0; i < 200000; i++) {
        fill(r, size);
        if (kind->write_ext && (r->status != EVF_STATUS_OK || i % 2))
          memset(r + 1, 0, size - sizeof *r); /* the kinds' own fields, zero or random */
        const char *host = names[rnd() % (sizeof names / sizeof *names)];
        const char *input = rnd() % 5 ? names[rnd() % (sizeof names / sizeof *names)] : NULL;
        ref_record(wf, f, kind, r, host, input);
        evf_recwriter_put(&w, r, host, input);
      }
      CHECK_EQ_U64(evf_recwriter_free(&w), 0);
      fclose(wf);
      fclose(gf);
      CHECK_EQ_U64(glen, wlen);
      size_t at = 0;
      while (at < wlen && at < glen && want[at] == got[at])
        at++;
      CHECK_EQ_U64(at, wlen);
      if (at < wlen) {
        size_t from = at > 80 ? at - 80 : 0;
        fprintf(stderr, "kind %s, %s: first difference at byte %zu:\nwant: %.160s\ngot:  %.160s\n",
                kind->name, fmt ? "jsonl" : "csv", at, want + from, got + from);
      }
      free(r);
      free(want);
      free(got);
    }
  }
  /* The printf digits, one by one. */
  char buf[80];
  const double xs[] = {1.0 / 128, 0.0078125, 2.5e-7, -0.0, 0.9999995, 0.0000005};
  for (size_t i = 0; i < sizeof xs / sizeof *xs; i++)
    for (int prec = 0; prec <= 9; prec++) {
      char want[80];
      snprintf(want, sizeof want, "%.*f", prec, xs[i]);
      *evf_put_fixed(buf, xs[i], prec) = '\0';
      CHECK(strcmp(buf, want) == 0);
    }
  printf("%d checks, %d failed\n", check_count, check_failures);
  return check_failures != 0;
}
