/* Record files and the write-to-temporary-then-rename discipline for every file rank 0 writes. */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* Temporary files that are open, so an interrupted job (Ctrl-C on mpirun, which sends SIGTERM
 * to the ranks; scancel; a batch system's time limit) leaves no half-written file behind.  A
 * signal handler reaches only globals, hence this table; the previous handlers are restored
 * when the last file closes, so evf_run() does not keep a process-wide handler. */
#define MAX_TEMPS 8
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NSIGNALS (sizeof cleanup_signals / sizeof cleanup_signals[0])
static char *volatile temps[MAX_TEMPS];
static int ntemps;
static struct sigaction previous[NSIGNALS];

static void remove_temps_and_reraise(int sig)
{
  for (int i = 0; i < MAX_TEMPS; i++)
    if (temps[i])
      unlink(temps[i]);
  for (size_t k = 0; k < NSIGNALS; k++)
    if (cleanup_signals[k] == sig)
      sigaction(sig, &previous[k], NULL);
  raise(sig);
}

static void track_temp(char *path)
{
  int i = 0;
  while (i < MAX_TEMPS && temps[i])
    i++;
  if (i == MAX_TEMPS)
    return; /* more open files than evf_run() ever has: this one is just not cleaned up */
  temps[i] = path;
  if (ntemps++ == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = remove_temps_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < NSIGNALS; k++)
      sigaction(cleanup_signals[k], &sa, &previous[k]);
  }
}

static void untrack_temp(const char *path)
{
  for (int i = 0; i < MAX_TEMPS; i++)
    if (temps[i] == path) {
      temps[i] = NULL;
      if (--ntemps == 0)
        for (size_t k = 0; k < NSIGNALS; k++)
          sigaction(cleanup_signals[k], &previous[k], NULL);
      return;
    }
}

int evf_outfile_open(struct evf_outfile *f, const char *option, const char *path, char *msg)
{
  struct stat st;
  memset(f, 0, sizeof *f);
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return evf_seterr(msg, EVF_EUSAGE, "%s: '%s' is a directory", option, path);
  size_t len = strlen(path);
  f->path = strdup(path);
  f->tmp = malloc(len + sizeof ".tmp.XXXXXX");
  if (!f->path || !f->tmp) {
    evf_outfile_discard(f);
    return evf_seterr(msg, EVF_ENOMEM, "%s: out of memory", option);
  }
  memcpy(f->tmp, path, len);
  memcpy(f->tmp + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  int fd = mkstemp(f->tmp);
  if (fd < 0) {
    int e = errno;
    free(f->tmp);
    f->tmp = NULL;
    evf_outfile_discard(f);
    return evf_seterr(msg, EVF_EUSAGE, "%s: cannot create '%s': %s", option, path, strerror(e));
  }
  /* mkstemp makes the file 0600; give the result the mode a plain fopen would. */
  mode_t mask = umask(0);
  umask(mask);
  track_temp(f->tmp);
  if (fchmod(fd, 0666 & ~mask) != 0 || !(f->fp = fdopen(fd, "w"))) {
    int e = errno;
    close(fd);
    evf_outfile_discard(f);
    return evf_seterr(msg, EVF_EUSAGE, "%s: cannot open '%s': %s", option, path, strerror(e));
  }
  return 0;
}

int evf_outfile_commit(struct evf_outfile *f, char *msg)
{
  if (!f->fp)
    return 0;
  int bad = ferror(f->fp);
  bad |= fflush(f->fp) != 0;
  bad |= fsync(fileno(f->fp)) != 0 && errno != EINVAL;
  int e = errno;
  bad |= fclose(f->fp) != 0;
  f->fp = NULL;
  if (!bad)
    untrack_temp(f->tmp);
  if (!bad && rename(f->tmp, f->path) != 0) {
    bad = 1;
    e = errno;
  }
  if (bad) {
    evf_seterr(msg, EVF_EIO, "%s: cannot write: %s", f->path, strerror(e));
    evf_outfile_discard(f);
    return EVF_EIO;
  }
  free(f->tmp);
  f->tmp = NULL;
  evf_outfile_discard(f);
  return 0;
}

void evf_outfile_discard(struct evf_outfile *f)
{
  if (f->fp)
    fclose(f->fp);
  if (f->tmp) {
    untrack_temp(f->tmp);
    unlink(f->tmp);
  }
  free(f->tmp);
  free(f->path);
  memset(f, 0, sizeof *f);
}

void evf_json_string(FILE *out, const char *s)
{
  if (!s) {
    fputs("null", out);
    return;
  }
  fputc('"', out);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(out, "\\%c", *c);
    else if (*c < 0x20)
      fprintf(out, "\\u%04x", *c);
    else
      fputc(*c, out);
  }
  fputc('"', out);
}

void evf_output_header(FILE *fp, enum evf_format fmt)
{
  if (fmt == EVF_FORMAT_CSV)
    fputs("id,rank,host,batch,iterations,value,io_delay,t_start,t_io_done,t_end,cpu_time,status\n", fp);
}

void evf_output_record(FILE *fp, enum evf_format fmt, const struct evf_record *r,
                       const char *host)
{
  if (fmt == EVF_FORMAT_JSONL) {
    fprintf(fp, "{\"id\":%" PRIu32 ",\"rank\":%" PRId32 ",\"host\":", r->id, r->rank);
    evf_json_string(fp, host);
    fprintf(fp,
            ",\"batch\":%" PRIu32 ",\"iterations\":%" PRIu32 ",\"value\":%" PRIu64
            ",\"io_delay\":%.6f,\"t_start\":%.6f,\"t_io_done\":%.6f,\"t_end\":%.6f"
            ",\"cpu_time\":%.9f,\"status\":\"%s\"}\n",
            r->batch, r->iterations, r->value, r->io_delay_us * 1e-6, r->t_start, r->t_io_done,
            r->t_end, r->cpu_time, evf_status_name(r->status));
  } else {
    /* Node names hold no commas or quotes (RFC 1123 letters, digits, '-', '.'). */
    fprintf(fp,
            "%" PRIu32 ",%" PRId32 ",%s,%" PRIu32 ",%" PRIu32 ",%" PRIu64
            ",%.6f,%.6f,%.6f,%.6f,%.9f,%s\n",
            r->id, r->rank, host, r->batch, r->iterations, r->value, r->io_delay_us * 1e-6,
            r->t_start, r->t_io_done, r->t_end, r->cpu_time, evf_status_name(r->status));
  }
}

int evf_output_records(FILE *fp, enum evf_format fmt, const struct evf_record *recs,
                       const struct evf_partition *p, const char (*hosts)[EVF_HOST_LEN])
{
  evf_output_header(fp, fmt);
  for (size_t b = 0; b < p->nbatches; b++) {
    const struct evf_record *r = &recs[p->batch_offset[b]];
    for (uint32_t k = evf_partition_batch_len(p, b); k > 0; k--, r++)
      evf_output_record(fp, fmt, r, r->rank >= 0 && r->rank < p->nranks ? hosts[r->rank] : "");
  }
  return ferror(fp) ? EVF_EIO : 0;
}
