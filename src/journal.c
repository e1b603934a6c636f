/* The journal: see journal.h. */
#define _DEFAULT_SOURCE /* O_NOFOLLOW */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "error.h"
#include "guard.h"

#define MAGIC "evfarm-journal 2 "
#define MAGIC_V1 "evfarm-journal 1 " /* no run frames (an evfarm before run frames) */
#define MAGIC_ANY "evfarm-journal "
#define FRAME_MAGIC "EVFR"
#define RUN_MAGIC "EVFS"
#define RUN_FIXED 32             /* a run frame's fixed fields (see journal.h) */
#define RUN_MAX (64u << 20)      /* the largest run frame read back */
#define BUF_BYTES (1u << 20)

struct evf_journal {
  int fd;
  const char *path;
  size_t rec_size, frame_size;
  unsigned char *buf;
  volatile size_t used;       /* whole frames in buf; the guard writes them out on a signal */
  atomic_int lock;            /* 1 while a flush writes buf; 2 once the guard took it */
  uint64_t count;
  int failed;
};

static void put_u32(unsigned char *p, uint32_t v)
{
  for (int k = 0; k < 4; k++)
    p[k] = (unsigned char)(v >> (8 * k));
}

static void put_u64(unsigned char *p, uint64_t v)
{
  for (int k = 0; k < 8; k++)
    p[k] = (unsigned char)(v >> (8 * k));
}

static uint64_t get_u64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--)
    v = v << 8 | p[k];
  return v;
}

static uint32_t get_u32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int write_all(int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n > 0) {
    ssize_t k = write(fd, c, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    c += k;
    n -= (size_t)k;
  }
  return 0;
}

/* What a header word stands for, by its key: the option (or input) that sets it. */
static const char *header_key_option(const char *word, size_t len)
{
  static const struct {
    const char *key, *what;
  } keys[] = {
    {"kind", "--kind"}, {"tasks", "--tasks"}, {"seed", "--seed"}, {"io_min", "--io-min"},
    {"io_max", "--io-max"}, {"cpu_min", "--cpu-min"}, {"cpu_max", "--cpu-max"},
    {"cpu_skew", "--cpu-skew"}, {"fail_rate", "--fail-rate"}, {"hang_rate", "--hang-rate"},
    {"record_size", "the record layout (another evfarm version)"},
    {"inputs", "the input file's line count"}, {"inputs_xxh3", "the input file's contents"},
    {"command_xxh3", "--command's template"},
  };
  size_t k = strcspn(word, "=");
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (k <= len && strlen(keys[i].key) == k && strncmp(word, keys[i].key, k) == 0)
      return keys[i].what;
  return NULL;
}

/* The first differing KEY=VALUE word of two headers, for the message: what sets it, its value
 * there and here; a word only one side has is said so (--command's template against a
 * --commands file, say). */
static void header_diff(const char *have, const char *want, char *out, size_t n)
{
  const char *a = have, *b = want;
  while (*a || *b) {
    size_t la = strcspn(a, " "), lb = strcspn(b, " ");
    if (la != lb || strncmp(a, b, la) != 0) {
      const char *w = la ? a : b;
      const char *what = header_key_option(w, la ? la : lb);
      char there[100], here[100];
      snprintf(there, sizeof there, la ? "'%.*s' there" : "none there", (int)(la < 80 ? la : 80),
               a);
      snprintf(here, sizeof here, lb ? "'%.*s' here" : "none here", (int)(lb < 80 ? lb : 80), b);
      snprintf(out, n, "%s%s%s, %s", what ? what : "", what ? ": " : "", there, here);
      return;
    }
    a += la + (a[la] == ' ');
    b += lb + (b[lb] == ' ');
  }
  snprintf(out, n, "a different header");
}

/* Frames are read through a buffer of at most READ_BUF bytes (more only for a run frame that
 * is larger), by pread: a journal of 10^8 records is 8 GB, and a mapping of it would count in
 * rank 0's resident memory as it is read. */
#define READ_BUF (1u << 20)
struct rbuf {
  int fd;
  off_t size;               /* the file's size when reading began */
  unsigned char *b;
  size_t cap, len;
  off_t base;               /* b[0..len) holds the file's bytes from base */
};

/* The bytes [at, at + need) of the file, or NULL when the file ends before them (or a read
 * fails: *err set). */
static const unsigned char *rb_get(struct rbuf *r, off_t at, size_t need, int *err)
{
  if (at >= r->base && (size_t)(at - r->base) + need <= r->len)
    return r->b + (at - r->base);
  if (at < 0 || (off_t)need > r->size - at)
    return NULL;
  if (need > r->cap) {
    unsigned char *g = realloc(r->b, need);
    if (!g) {
      *err = ENOMEM;
      return NULL;
    }
    r->b = g;
    r->cap = need;
  }
  size_t want = r->size - at < (off_t)r->cap ? (size_t)(r->size - at) : r->cap;
  r->base = at;
  r->len = 0;
  while (r->len < want) {
    ssize_t k = pread(r->fd, r->b + r->len, want - r->len, at + (off_t)r->len);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      *err = k < 0 ? errno : EIO;
      return NULL;
    }
    r->len += (size_t)k;
  }
  return r->b;
}

/* Is there a whole valid frame at `at`?  0: no; 1: a record; 2: a run frame (version 2
 * only).  *fsize gets its payload's size, *payload where its bytes are (valid until the next
 * read). */
static int frame_at(struct rbuf *r, off_t at, int version, size_t rec_size, uint32_t *fsize,
                    const unsigned char **payload, int *err)
{
  const unsigned char *h = rb_get(r, at, 16, err);
  if (!h)
    return 0;
  uint32_t n = get_u32(h + 4);
  int rec = memcmp(h, FRAME_MAGIC, 4) == 0 && n == rec_size;
  int run = version == 2 && memcmp(h, RUN_MAGIC, 4) == 0 && n >= RUN_FIXED && n <= RUN_MAX;
  if (!rec && !run)
    return 0;
  if (!(h = rb_get(r, at, (size_t)n + 16, err)) || get_u64(h + 8 + n) != XXH3_64bits(h + 8, n))
    return 0;
  *fsize = n;
  *payload = h + 8;
  return rec ? 1 : 2;
}

/* The frames from `at` to the file's end or to `stop` (frames that start before it): every
 * valid record to `each` with its frame's offset (run frames checked and skipped; damaged
 * stretches skipped, counted in *dmg when not NULL).  *end gets the offset where the valid
 * part ends (what follows is a torn tail).  Returns 0, or EVF_EIO / EVF_ENOMEM (msg set). */
static int read_frames(struct rbuf *r, off_t at, off_t stop, int version, size_t rec_size,
                       evf_journal_record_fn each, void *arg, uint64_t *nread,
                       struct evf_journal_damage *dmg, off_t *end, const char *path, char *msg)
{
  unsigned char *frame = malloc(rec_size ? rec_size : 1);
  *end = at;
  if (!frame)
    return evf_seterr(msg, EVF_ENOMEM, "--journal: out of memory");
  off_t good_end = at;
  int err = 0;
  while (at < stop && at + 16 <= r->size && !err) {
    uint32_t fsize = 0;
    const unsigned char *pl = NULL;
    int kind = frame_at(r, at, version, rec_size, &fsize, &pl, &err);
    if (kind == 0 && !err) { /* damaged here: find the next valid frame */
      off_t next = at + 1;
      while (next + 16 <= r->size && !err &&
             frame_at(r, next, version, rec_size, &fsize, &pl, &err) == 0)
        next++;
      if (next + 16 > r->size || err)
        break; /* none: a torn tail from `at` */
      if (dmg && dmg->stretches++ == 0)
        dmg->first_at = (uint64_t)at;
      if (dmg)
        dmg->bytes += (uint64_t)(next - at);
      at = next;
      kind = frame_at(r, at, version, rec_size, &fsize, &pl, &err);
    }
    if (kind == 1) {
      memcpy(frame, pl, rec_size); /* aligned for the record's fields */
      each(arg, (const struct evf_record *)(void *)frame, (uint64_t)at);
      if (nread)
        ++*nread;
    }
    at += (off_t)fsize + 16;
    good_end = at;
  }
  free(frame);
  *end = good_end;
  if (err)
    return evf_seterr(msg, err == ENOMEM ? EVF_ENOMEM : EVF_EIO, "--journal: cannot read '%s': %s",
                      evf_clip(path), strerror(err));
  return 0;
}

/* Read an existing journal: check the header, pass every valid record to `each` (run frames
 * are checked and skipped; damaged frames skipped and counted in *dmg), and return the offset
 * where the valid part ends (in *end: what follows is a torn tail) and the version (*version:
 * 1 or 2). */
static int read_back(int fd, const char *path, const char *header, size_t rec_size,
                     evf_journal_record_fn each, void *arg, uint64_t *nread, off_t *end,
                     int *version, struct evf_journal_damage *dmg, char *msg)
{
  FILE *f = fdopen(dup(fd), "rb");
  if (!f)
    return evf_seterr(msg, EVF_EIO, "--journal: '%s': %s", evf_clip(path), strerror(errno));
  size_t want = strlen(MAGIC) + strlen(header) + 1;
  char *line = malloc(want + 1);
  int rc = line ? 0 : EVF_ENOMEM;
  if (rc == 0) {
    size_t got = fread(line, 1, want, f);
    line[got] = '\0';
    /* A file cut inside its first line (a run stopped while creating it) holds no record: all
     * of it is a torn tail. */
    char *whole = malloc(want + 1);
    int torn_head = 0;
    if (whole) {
      snprintf(whole, want + 1, "%s%s\n", MAGIC, header);
      torn_head = got < want && strncmp(line, whole, got) == 0;
      free(whole);
    }
    if (torn_head) {
      *end = 0;
      *version = 2;
      free(line);
      fclose(f);
      return 0;
    }
    *version = got >= strlen(MAGIC) && strncmp(line, MAGIC, strlen(MAGIC)) == 0         ? 2
               : got >= strlen(MAGIC_V1) && strncmp(line, MAGIC_V1, strlen(MAGIC_V1)) == 0 ? 1
                                                                                           : 0;
    size_t vlen = strcspn(line + (got > strlen(MAGIC_ANY) ? strlen(MAGIC_ANY) : got), " \n");
    if (*version == 0 && strncmp(line, MAGIC_ANY, strlen(MAGIC_ANY)) == 0) {
      rc = evf_seterr(msg, EVF_EUSAGE,
                      "--journal: '%s' is an evfarm journal of another version (%.*s): this "
                      "evfarm reads versions 1 and 2",
                      evf_clip(path), vlen < 16 ? (int)vlen : 16, line + strlen(MAGIC_ANY));
    } else if (*version == 0) {
      rc = evf_seterr(msg, EVF_EUSAGE, "--journal: '%s' is not an evfarm journal",
                      evf_clip(path));
    } else if (got < want && !memchr(line, '\n', got)) {
      rc = evf_seterr(msg, EVF_EUSAGE,
                      "--journal: '%s' ends inside its first line (%zu bytes, no records: a run "
                      "stopped while creating it): remove it to start again",
                      evf_clip(path), got);
    } else if (got != want || strncmp(line + strlen(MAGIC), header, strlen(header)) != 0 ||
               line[want - 1] != '\n') {
      char diff[256];
      char *nl = strchr(line, '\n');
      if (nl)
        *nl = '\0';
      header_diff(line + strlen(MAGIC), header, diff, sizeof diff);
      rc = evf_seterr(msg, EVF_EUSAGE,
                      "--journal: '%s' belongs to another task set (%s): give the options it "
                      "was written with, or another journal",
                      evf_clip(path), diff);
    }
  }
  if (rc == 0 && ferror(f))
    rc = evf_seterr(msg, EVF_EIO, "--journal: '%s': read error", evf_clip(path));
  /* The frames: each is checked by its magic, size and XXH3-64.  A frame that fails (a
   * flipped bit, a stretch overwritten) is skipped: the next offset where a whole valid frame
   * starts is looked for byte by byte, and reading goes on there, so one damaged frame costs
   * its own record only.  Bytes after the last valid frame with no valid frame in them are a
   * torn tail (a crash mid-write): *end stops before them. */
  struct stat st;
  struct rbuf rb = {fd, rc == 0 && fstat(fd, &st) == 0 ? st.st_size : 0, NULL, READ_BUF, 0, 0};
  off_t at = (off_t)want;
  if (rc == 0 && rb.size > (off_t)want) {
    rb.b = malloc(rb.cap);
    rc = rb.b ? read_frames(&rb, at, rb.size, *version, rec_size, each, arg, nread, dmg, &at,
                            path, msg)
              : evf_seterr(msg, EVF_ENOMEM, "--journal: out of memory");
    free(rb.b);
  }
  *end = at;
  free(line);
  fclose(f);
  return rc;
}

/* Open an existing journal file read-write (its torn tail is cut) or create it.  0 or an
 * error with msg set. */
static int open_file(const char *path, int create, int *fd_out, char *msg)
{
  int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT | O_EXCL | O_APPEND : 0),
                0644);
  if (fd < 0)
    return evf_seterr(msg, create && errno == EEXIST ? EVF_EUSAGE : EVF_EIO,
                      "--journal: cannot %s '%s': %s", create ? "create" : "open",
                      evf_clip(path), strerror(errno));
  *fd_out = fd;
  return 0;
}

int evf_journal_read(const char *path, const char *header, size_t rec_size,
                     evf_journal_record_fn each, void *arg, uint64_t *nread, uint64_t *torn,
                     struct evf_journal_damage *dmg, int *version_out, char *msg)
{
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
    return evf_seterr(msg, EVF_EUSAGE, "--journal: '%s' is not a regular file", evf_clip(path));
  int fd = -1;
  int rc = open_file(path, 0, &fd, msg);
  if (rc)
    return rc;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { /* replaced since the lstat */
    close(fd);
    return evf_seterr(msg, EVF_EUSAGE, "--journal: '%s' is not a regular file", evf_clip(path));
  }
  off_t end = 0;
  int version = 0;
  rc = read_back(fd, path, header, rec_size, each, arg, nread, &end, &version, dmg, msg);
  if (version_out)
    *version_out = version;
  if (rc == 0 && end < st.st_size) { /* a cut tail: dropped, so it is said once */
    *torn += (uint64_t)(st.st_size - end);
    if (ftruncate(fd, end) != 0)
      rc = evf_seterr(msg, EVF_EIO, "--journal: cannot cut the torn tail of '%s': %s",
                      evf_clip(path), strerror(errno));
  }
  close(fd);
  return rc;
}

struct evf_journal_reader {
  struct rbuf rb;
  const char *path;
  int version;
  size_t rec_size;
};

int evf_journal_reader_open(struct evf_journal_reader **out, const char *path, int version,
                            size_t rec_size, char *msg)
{
  struct evf_journal_reader *r = calloc(1, sizeof *r);
  struct stat st;
  *out = NULL;
  if (!r || !(r->rb.b = malloc(READ_BUF))) {
    free(r);
    return evf_seterr(msg, EVF_ENOMEM, "--journal: out of memory");
  }
  r->rb.cap = READ_BUF;
  r->rb.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (r->rb.fd < 0 || fstat(r->rb.fd, &st) != 0) {
    int e = errno;
    evf_journal_reader_close(r);
    return evf_seterr(msg, EVF_EIO, "--journal: cannot open '%s' again: %s", evf_clip(path),
                      strerror(e));
  }
  r->rb.size = st.st_size;
  r->path = path;
  r->version = version;
  r->rec_size = rec_size;
  *out = r;
  return 0;
}

int evf_journal_reader_range(struct evf_journal_reader *r, uint64_t from, uint64_t to,
                             evf_journal_record_fn each, void *arg, char *msg)
{
  off_t end;
  off_t stop = to > (uint64_t)r->rb.size ? r->rb.size : (off_t)to;
  return read_frames(&r->rb, (off_t)from, stop, r->version, r->rec_size, each, arg, NULL, NULL,
                     &end, r->path, msg);
}

void evf_journal_reader_close(struct evf_journal_reader *r)
{
  if (!r)
    return;
  if (r->rb.fd >= 0)
    close(r->rb.fd);
  free(r->rb.b);
  free(r);
}

int evf_journal_create(struct evf_journal **out, const char *path, const char *header,
                       size_t rec_size, char *msg)
{
  *out = NULL;
  int fd = -1;
  int rc = open_file(path, 1, &fd, msg);
  if (rc)
    return rc;
  struct evf_journal *j = calloc(1, sizeof *j);
  if (j)
    j->buf = malloc(BUF_BYTES);
  size_t n = strlen(MAGIC) + strlen(header) + 1;
  char *line = malloc(n + 1);
  if (!j || !j->buf || !line) {
    rc = evf_seterr(msg, EVF_ENOMEM, "--journal: out of memory");
  } else {
    snprintf(line, n + 1, "%s%s\n", MAGIC, header);
    if (write_all(fd, line, n) != 0 || fsync(fd) != 0)
      rc = evf_seterr(msg, EVF_EIO, "--journal: cannot write '%s': %s", evf_clip(path),
                      strerror(errno));
  }
  free(line);
  if (rc) {
    if (j)
      free(j->buf);
    free(j);
    close(fd);
    unlink(path);
    return rc;
  }
  j->fd = fd;
  j->path = path;
  j->rec_size = rec_size;
  j->frame_size = rec_size + 16;
  atomic_init(&j->lock, 0);
  evf_guard_journal(fd, j->buf, &j->used, &j->lock);
  *out = j;
  return 0;
}

/* A journal file's name in the directory: run-RUN.rank-RANK.journal (RUN with 4 digits at
 * least, so ls lists runs in order). */
static int parse_name(const char *name, uint32_t *run, uint32_t *rank)
{
  unsigned long a, b;
  char tail[16];
  int n = 0;
  if (sscanf(name, "run-%lu.rank-%lu.%15s%n", &a, &b, tail, &n) != 3 || name[n] != '\0' ||
      strcmp(tail, "journal") != 0 || name[4] < '0' || name[4] > '9' || a > UINT32_MAX ||
      b > UINT32_MAX)
    return -1;
  *run = (uint32_t)a;
  *rank = (uint32_t)b;
  return 0;
}

int evf_journal_file_name(char *buf, size_t n, const char *dir, uint32_t run, uint32_t rank)
{
  int len = snprintf(buf, n, "%s/run-%04u.rank-%u.journal", dir, (unsigned)run, (unsigned)rank);
  return len > 0 && (size_t)len < n ? 0 : -1;
}

static int cmp_files(const void *pa, const void *pb)
{
  const struct evf_journal_file *a = pa, *b = pb;
  if (a->run != b->run)
    return a->run < b->run ? -1 : 1;
  return a->rank < b->rank ? -1 : a->rank > b->rank;
}

void evf_journal_dir_close(struct evf_journal_dir *d)
{
  for (size_t k = 0; k < d->n; k++)
    free(d->file[k].path);
  free(d->file);
  if (d->lock_fd >= 0)
    close(d->lock_fd);
  memset(d, 0, sizeof *d);
  d->lock_fd = -1;
}

int evf_journal_dir_open(struct evf_journal_dir *d, const char *dir, int resume, char *msg)
{
  memset(d, 0, sizeof *d);
  d->lock_fd = -1;
  struct stat st;
  int exists = lstat(dir, &st) == 0;
  if (!exists && errno != ENOENT)
    return evf_seterr(msg, EVF_EUSAGE, "--journal: '%s': %s", evf_clip(dir), strerror(errno));
  if (exists && S_ISREG(st.st_mode)) {
    char head[16] = "";
    FILE *f = fopen(dir, "rb");
    if (f) {
      if (!fgets(head, sizeof head, f))
        head[0] = '\0';
      fclose(f);
    }
    if (strncmp(head, MAGIC_ANY, strlen(MAGIC_ANY) - 1) == 0)
      return evf_seterr(msg, EVF_EUSAGE,
                        "--journal: '%s' is a journal file of an earlier evfarm: a journal is a "
                        "directory now; to go on with it: mkdir DIR && mv '%s' "
                        "DIR/run-0000.rank-0.journal, then --journal DIR --resume",
                        evf_clip(dir), evf_clip(dir));
  }
  if (exists && !S_ISDIR(st.st_mode))
    return evf_seterr(msg, EVF_EUSAGE, "--journal: '%s' exists and is not a directory",
                      evf_clip(dir));
  if (!exists && mkdir(dir, 0777) != 0)
    return evf_seterr(msg, EVF_EUSAGE, "--journal: cannot create the directory '%s': %s",
                      evf_clip(dir), strerror(errno));
  /* One run at a time: another that holds the lock (a run still going, or its orphaned ranks)
   * makes this one bad input, not a second writer. */
  char path[4096];
  if (snprintf(path, sizeof path, "%s/lock", dir) >= (int)sizeof path)
    return evf_seterr(msg, EVF_EUSAGE, "--journal: '%s': the path is too long", evf_clip(dir));
  d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (d->lock_fd < 0)
    return evf_seterr(msg, EVF_EUSAGE, "--journal: cannot open '%s': %s", evf_clip(path),
                      strerror(errno));
  if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    evf_journal_dir_close(d);
    return evf_seterr(msg, EVF_EUSAGE, "--journal: '%s' %s", evf_clip(dir),
                      e == EWOULDBLOCK ? "is in use by another run" : strerror(e));
  }
  DIR *dp = opendir(dir);
  if (!dp) {
    int e = errno;
    evf_journal_dir_close(d);
    return evf_seterr(msg, EVF_EUSAGE, "--journal: cannot read the directory '%s': %s",
                      evf_clip(dir), strerror(e));
  }
  size_t cap = 0;
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(dp)) != NULL) {
    uint32_t run, rank;
    if (parse_name(e->d_name, &run, &rank) != 0)
      continue; /* the lock, or anything else: not ours to read */
    if (d->n == cap) {
      cap = cap ? 2 * cap : 16;
      struct evf_journal_file *g = realloc(d->file, cap * sizeof *g);
      if (!g) {
        rc = evf_seterr(msg, EVF_ENOMEM, "--journal: out of memory");
        break;
      }
      d->file = g;
    }
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    char *fp = malloc(len);
    if (!fp) {
      rc = evf_seterr(msg, EVF_ENOMEM, "--journal: out of memory");
      break;
    }
    snprintf(fp, len, "%s/%s", dir, e->d_name);
    d->file[d->n++] = (struct evf_journal_file){fp, run, rank};
    if (run >= d->next_run)
      d->next_run = run + 1;
  }
  closedir(dp);
  if (rc == 0 && d->n && !resume)
    rc = evf_seterr(msg, EVF_EUSAGE,
                    "--journal: '%s' holds a journal: add --resume to go on with it, or remove it",
                    evf_clip(dir));
  if (rc) {
    evf_journal_dir_close(d);
    return rc;
  }
  if (d->next_run == 0)
    d->next_run = 1;
  if (d->n)
    qsort(d->file, d->n, sizeof *d->file, cmp_files);
  return 0;
}

int evf_journal_flush(struct evf_journal *j, int durable, char *msg)
{
  if (j->failed)
    return EVF_EIO;
  /* The buffer goes out under the lock the guard's handler takes (it waits for us, on whatever
   * thread it runs), with this thread's signals held: a handler that ran between the write and
   * `used` going back to 0 would write the same frames twice. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  int free_ = 0, bad = 0, e = 0;
  if (atomic_compare_exchange_strong(&j->lock, &free_, 1)) {
    bad = j->used && write_all(j->fd, j->buf, (size_t)j->used) != 0;
    e = errno;
    if (!bad)
      j->used = 0;
    atomic_store(&j->lock, 0);
  } else { /* the guard has the buffer: the process is ending, and it writes it out */
    sigprocmask(SIG_SETMASK, &old, NULL);
    j->failed = 1;
    return evf_seterr(msg, EVF_EIO, "--journal: stopping: the buffer is being written out");
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (bad || (durable && fsync(j->fd) != 0)) {
    j->failed = 1;
    return evf_seterr(msg, EVF_EIO, "--journal: cannot write '%s': %s", evf_clip(j->path),
                      strerror(bad ? e : errno));
  }
  return 0;
}

int evf_journal_append(struct evf_journal *j, const void *recs, size_t n, char *msg)
{
  const unsigned char *r = recs;
  for (size_t i = 0; i < n; i++, r += j->rec_size) {
    if (j->used + j->frame_size > BUF_BYTES && evf_journal_flush(j, 0, msg))
      return EVF_EIO;
    unsigned char *f = j->buf + j->used;
    memcpy(f, FRAME_MAGIC, 4);
    put_u32(f + 4, (uint32_t)j->rec_size);
    memcpy(f + 8, r, j->rec_size);
    put_u64(f + 8 + j->rec_size, XXH3_64bits(r, j->rec_size));
    atomic_signal_fence(memory_order_release); /* the frame is whole before `used` covers it */
    j->used += j->frame_size;
    j->count++;
  }
  return j->failed ? EVF_EIO : 0;
}

int evf_journal_run(struct evf_journal *j, const struct evf_journal_run *r, char *msg)
{
  if (j->failed)
    return EVF_EIO;
  const char *fixed_strings[2] = {r->version ? r->version : "", r->slurm_job ? r->slurm_job : ""};
  size_t size = RUN_FIXED + 4 * (size_t)r->ranks;
  for (int k = 0; k < 2; k++)
    size += strlen(fixed_strings[k]) + 1;
  for (uint32_t k = 0; k < r->nodes; k++)
    size += strlen(r->node_names[k]) + 1;
  if (size > RUN_MAX)
    return evf_seterr(msg, EVF_EUSAGE, "--journal: %u ranks on %u nodes do not fit a run frame",
                      r->ranks, r->nodes);
  unsigned char *f = malloc(size + 16);
  if (!f)
    return evf_seterr(msg, EVF_ENOMEM, "--journal: out of memory");
  unsigned char *p = f + 8;
  put_u64(p, (uint64_t)r->t0_unix_ns);
  put_u32(p + 8, r->ranks);
  put_u32(p + 12, r->nodes);
  put_u64(p + 16, r->todo);
  put_u64(p + 24, r->held);
  p += RUN_FIXED;
  for (uint32_t k = 0; k < r->ranks; k++, p += 4)
    put_u32(p, (uint32_t)r->node_of[k]);
  for (uint32_t k = 0; k < 2 + r->nodes; k++) {
    const char *str = k < 2 ? fixed_strings[k] : r->node_names[k - 2];
    size_t n = strlen(str) + 1;
    memcpy(p, str, n);
    p += n;
  }
  memcpy(f, RUN_MAGIC, 4);
  put_u32(f + 4, (uint32_t)size);
  put_u64(f + 8 + size, XXH3_64bits(f + 8, size));
  int rc = 0;
  if (j->used + size + 16 > BUF_BYTES)
    rc = evf_journal_flush(j, 0, msg);
  if (rc == 0 && size + 16 <= BUF_BYTES) { /* in the buffer, as records go */
    memcpy(j->buf + j->used, f, size + 16);
    atomic_signal_fence(memory_order_release);
    j->used += size + 16;
  } else if (rc == 0 && write_all(j->fd, f, size + 16) != 0) { /* bigger than the buffer */
    j->failed = 1;
    rc = evf_seterr(msg, EVF_EIO, "--journal: cannot write '%s': %s", evf_clip(j->path),
                    strerror(errno));
  }
  free(f);
  return rc;
}

uint64_t evf_journal_count(const struct evf_journal *j)
{
  return j->count;
}

int evf_journal_close(struct evf_journal *j, char *msg)
{
  if (!j)
    return 0;
  int rc = evf_journal_flush(j, 1, msg);
  evf_guard_journal(-1, NULL, NULL, NULL);
  if (close(j->fd) != 0 && rc == 0)
    rc = evf_seterr(msg, EVF_EIO, "--journal: cannot close '%s': %s", evf_clip(j->path),
                    strerror(errno));
  free(j->buf);
  free(j);
  return rc;
}
