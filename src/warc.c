/* WARC 1.1 writer (see warc.h).  Each record: the WARC header, the block (the HTTP message),
 * two CRLFs, compressed as one gzip member (libdeflate, level 1: twice zlib's speed at level 1
 * on pages, with a slightly better ratio; the compression is most of what --warc costs a
 * fetch); digests are SHA-1 (OpenSSL) in base32, as
 * the format's practice: WARC-Block-Digest over the block, WARC-Payload-Digest over the
 * response's entity body with its transfer encoding (chunked) removed and its content encoding
 * kept (the IIPC's reading of the standard, what warcio and pywb check). */
#define _GNU_SOURCE
#include "warc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"

#define NAME_PREFIX "evfarm-"
#define NAME_SUFFIX ".warc.gz"
#define OPEN_SUFFIX ".open"

struct buf {
  unsigned char *p;
  size_t len, cap;
};

struct evf_warc {
  char *dir;
  uint32_t rank;
  uint64_t max_size;
  char *info;              /* the caller's warcinfo fields */
  int fd;                  /* the file being written, or -1 */
  uint32_t seq;            /* its number (the next one's when fd < 0) */
  uint64_t size;           /* its bytes so far */
  uint64_t fetches_in_file;
  char info_id[64];        /* its warcinfo record's id, "<urn:uuid:...>" */
  char path[4096], open_path[4096 + 8];
  int failed;              /* a write failed: every later call fails */
  char failed_msg[EVF_ERRMSG_LEN];
  struct libdeflate_compressor *z;
  EVP_MD_CTX *md;
  struct buf stage;        /* one record before compression */
  struct buf out;          /* the compressed members of one fetch */
  struct buf head;         /* one record's WARC header */
  uint64_t rng;            /* record ids (UUID v4) */
  struct evf_warc_figures fig;
};

void evf_warc_file_name(char *buf, size_t n, uint32_t rank, uint32_t seq)
{
  snprintf(buf, n, NAME_PREFIX "%05" PRIu32 "-%05" PRIu32 NAME_SUFFIX, rank, seq);
}

int evf_warc_parse_name(const char *name, uint32_t *rank, uint32_t *seq, int *open)
{
  size_t np = strlen(NAME_PREFIX);
  if (strncmp(name, NAME_PREFIX, np) != 0)
    return 0;
  const char *p = name + np;
  char *end;
  if (*p < '0' || *p > '9')
    return 0;
  errno = 0;
  unsigned long r = strtoul(p, &end, 10);
  if (errno || *end != '-' || r > UINT32_MAX || end[1] < '0' || end[1] > '9')
    return 0;
  unsigned long s = strtoul(end + 1, &end, 10);
  if (errno || s > UINT32_MAX || strncmp(end, NAME_SUFFIX, strlen(NAME_SUFFIX)) != 0)
    return 0;
  end += strlen(NAME_SUFFIX);
  if (*end && strcmp(end, OPEN_SUFFIX) != 0)
    return 0;
  *rank = (uint32_t)r;
  *seq = (uint32_t)s;
  *open = *end != '\0';
  return 1;
}

static int buf_room(struct buf *b, size_t more)
{
  if (b->len + more <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 65536;
  while (cap < b->len + more)
    cap *= 2;
  unsigned char *p = realloc(b->p, cap);
  if (!p)
    return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(struct buf *b, const char *fmt, ...)
{
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf((char *)b->p + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0)
      return -1;
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return 0;
    }
    if (buf_room(b, (size_t)n + 1))
      return -1;
  }
}

/* --- identifiers, dates, digests ------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* "<urn:uuid:xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx>" (a random UUID, version 4). */
static void record_id(struct evf_warc *w, char out[64])
{
  uint64_t a = splitmix(&w->rng), b = splitmix(&w->rng);
  a = (a & ~0xf000ull) | 0x4000ull;                       /* version 4 */
  b = (b & ~(3ull << 62)) | (2ull << 62);                 /* variant 10 */
  snprintf(out, 64, "<urn:uuid:%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64
           ">", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48, b & UINT64_C(0xffffffffffff));
}

/* WARC-Date: UTC, to the microsecond (WARC 1.1 allows fractions of a second). */
static void warc_date(double t, char out[64])
{
  time_t s = (time_t)t;
  long us = (long)((t - (double)s) * 1e6 + 0.5);
  if (us >= 1000000) {
    s++;
    us -= 1000000;
  }
  struct tm tm;
  gmtime_r(&s, &tm);
  snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

/* "sha1:" and the 20 bytes in base32 (RFC 4648: 32 characters, no padding). */
static void base32_sha1(const unsigned char d[20], char out[40])
{
  static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  memcpy(out, "sha1:", 5);
  char *o = out + 5;
  for (int k = 0; k < 20; k += 5) {
    uint64_t v = (uint64_t)d[k] << 32 | (uint64_t)d[k + 1] << 24 | (uint64_t)d[k + 2] << 16 |
                 (uint64_t)d[k + 3] << 8 | d[k + 4];
    for (int s = 35; s >= 0; s -= 5)
      *o++ = A[(v >> s) & 31];
  }
  *o = '\0';
}

static int digest_begin(struct evf_warc *w)
{
  return EVP_DigestInit_ex(w->md, EVP_sha1(), NULL) == 1 ? 0 : -1;
}

static void digest_add(struct evf_warc *w, const void *p, size_t n)
{
  if (n)
    EVP_DigestUpdate(w->md, p, n);
}

static void digest_end(struct evf_warc *w, char out[40])
{
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(w->md, d, &n);
  base32_sha1(d, out);
}

/* The header block's end in an HTTP message: the offset of its body, or len when none. */
static size_t body_at(const char *m, size_t len)
{
  const char *e = memmem(m, len, "\r\n\r\n", 4);
  return e ? (size_t)(e - m) + 4 : len;
}

/* Does the header block m[0..n) say Transfer-Encoding: ... chunked? */
static int is_chunked(const char *m, size_t n)
{
  static const char name[] = "\r\ntransfer-encoding:";
  size_t ln = sizeof name - 1;
  for (size_t k = 0; k + ln <= n; k++) {
    if (strncasecmp(m + k, name, ln) != 0)
      continue;
    const char *v = m + k + ln, *end = m + n;
    const char *eol = memmem(v, (size_t)(end - v), "\r\n", 2);
    size_t vl = eol ? (size_t)(eol - v) : (size_t)(end - v);
    for (size_t i = 0; i + 7 <= vl; i++)
      if (strncasecmp(v + i, "chunked", 7) == 0)
        return 1;
  }
  return 0;
}

/* Feed the entity body of b[0..n) (chunked) to the digest, its chunks' data only.  A body that
 * does not parse as chunks is digested as it is from where the parse failed. */
static void digest_dechunked(struct evf_warc *w, const char *b, size_t n)
{
  size_t at = 0;
  while (at < n) {
    size_t k = at, size = 0;
    int digits = 0;
    for (; k < n; k++) {
      int c = b[k], v = c >= '0' && c <= '9' ? c - '0'
                        : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
      if (v < 0 || size > (SIZE_MAX >> 4))
        break;
      size = size * 16 + (size_t)v;
      digits++;
    }
    const char *eol = digits ? memmem(b + k, n - k, "\r\n", 2) : NULL;
    if (!eol)
      break;
    size_t data = (size_t)(eol - b) + 2;
    if (size == 0)
      return; /* the last chunk (trailers are not payload) */
    if (size > n - data)
      break;
    digest_add(w, b + data, size);
    at = data + size;
    if (at + 2 <= n && b[at] == '\r' && b[at + 1] == '\n')
      at += 2;
    else
      break;
  }
  digest_add(w, b + at, n - at);
}

/* --- records --------------------------------------------------------------------------------- */

/* Append one record as a gzip member to w->out.  Returns 0 or -1 (no memory, zlib). */
static int add_record(struct evf_warc *w, const char *head, size_t head_len, const void *block,
                      size_t block_len)
{
  w->stage.len = 0;
  if (buf_room(&w->stage, head_len + block_len + 4))
    return -1;
  memcpy(w->stage.p, head, head_len);
  if (block_len)
    memcpy(w->stage.p + head_len, block, block_len);
  memcpy(w->stage.p + head_len + block_len, "\r\n\r\n", 4);
  w->stage.len = head_len + block_len + 4;
  size_t bound = libdeflate_gzip_compress_bound(w->z, w->stage.len);
  if (buf_room(&w->out, bound))
    return -1;
  size_t n = libdeflate_gzip_compress(w->z, w->stage.p, w->stage.len, w->out.p + w->out.len,
                                      bound);
  if (n == 0)
    return -1;
  w->out.len += n;
  w->fig.records++;
  return 0;
}

/* The common header lines of a record into w->head (reset first). */
static int head_begin(struct evf_warc *w, const char *type, const char *id, double date)
{
  char d[64];
  warc_date(date, d);
  w->head.len = 0;
  return buf_printf(&w->head, "WARC/1.1\r\nWARC-Type: %s\r\nWARC-Record-ID: %s\r\nWARC-Date: %s\r\n",
                    type, id, d);
}

/* The block digest of an HTTP message m[0..n) into d[0], and for a response its payload digest
 * into d[1].  Returns 0 or -1. */
static int digest_block(struct evf_warc *w, const char *m, size_t n, int response, char *d[2])
{
  if (digest_begin(w))
    return -1;
  digest_add(w, m, n);
  digest_end(w, d[0]);
  if (!response)
    return 0;
  if (digest_begin(w))
    return -1;
  size_t at = body_at(m, n);
  if (is_chunked(m, at)) /* headers follow the status line's CRLF */
    digest_dechunked(w, m + at, n - at);
  else
    digest_add(w, m + at, n - at);
  digest_end(w, d[1]);
  return 0;
}

/* The WARC header of a request or response record of `hop` into w->head, naming its
 * counterpart `other`. */
static int http_record(struct evf_warc *w, const char *type, const char *id, const char *other,
                       const struct evf_warc_hop *hop, size_t len, char *const d[2], int response)
{
  int rc = head_begin(w, type, id, hop->date);
  rc = rc ? rc : buf_printf(&w->head, "WARC-Warcinfo-ID: %s\r\nWARC-Concurrent-To: %s\r\n"
                                      "WARC-Target-URI: %s\r\n", w->info_id, other, hop->uri);
  if (rc == 0 && hop->ip && *hop->ip)
    rc = buf_printf(&w->head, "WARC-IP-Address: %s\r\n", hop->ip);
  rc = rc ? rc : buf_printf(&w->head, "WARC-Block-Digest: %s\r\n", d[0]);
  if (rc == 0 && response)
    rc = buf_printf(&w->head, "WARC-Payload-Digest: %s\r\n", d[1]);
  rc = rc ? rc : buf_printf(&w->head, "Content-Type: application/http;msgtype=%s\r\n"
                                      "Content-Length: %zu\r\n\r\n", type, len);
  return rc;
}

/* A new file: created .open (never over another), a warcinfo record first. */
static int file_begin(struct evf_warc *w, char *msg)
{
  char name[64];
  for (;; w->seq++) {
    evf_warc_file_name(name, sizeof name, w->rank, w->seq);
    snprintf(w->path, sizeof w->path, "%s/%s", w->dir, name);
    snprintf(w->open_path, sizeof w->open_path, "%s" OPEN_SUFFIX, w->path);
    struct stat st;
    if (lstat(w->path, &st) == 0)
      continue; /* another job's file (one directory for two jobs): the next number */
    w->fd = open(w->open_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd >= 0)
      break;
    if (errno != EEXIST)
      return evf_seterr(msg, EVF_EIO, "--warc: cannot create '%s': %s", evf_clip(w->open_path),
                        strerror(errno));
  }
  w->size = 0;
  w->fetches_in_file = 0;
  w->fig.files++;
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  record_id(w, w->info_id);
  struct buf body = {0};
  int rc = buf_printf(&body, "software: evfarm/" EVF_VERSION_STRING "\r\nformat: WARC File Format "
                             "1.1\r\nconformsTo: http://iipc.github.io/warc-specifications/"
                             "specifications/warc-format/warc-1.1/\r\nhostname: %s\r\nrank: %"
                             PRIu32 "\r\n%s",
                      host, w->rank, w->info);
  if (rc == 0)
    rc = head_begin(w, "warcinfo", w->info_id, (double)now.tv_sec + now.tv_nsec * 1e-9);
  if (rc == 0)
    rc = buf_printf(&w->head, "WARC-Filename: %s\r\nContent-Type: application/warc-fields\r\n"
                              "Content-Length: %zu\r\n\r\n", name, body.len);
  w->out.len = 0;
  if (rc == 0)
    rc = add_record(w, (const char *)w->head.p, w->head.len, body.p, body.len);
  free(body.p);
  if (rc)
    return evf_seterr(msg, EVF_ENOMEM, "--warc: out of memory");
  return 0;
}

/* Write w->out at the end of the file; on failure cut the file back to `keep` bytes. */
static int put(struct evf_warc *w, uint64_t keep, char *msg)
{
  size_t done = 0;
  while (done < w->out.len) {
    ssize_t n = write(w->fd, w->out.p + done, w->out.len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : ENOSPC;
      if (ftruncate(w->fd, (off_t)keep) == 0)
        lseek(w->fd, (off_t)keep, SEEK_SET);
      return evf_seterr(msg, EVF_EIO, "--warc: cannot write '%s': %s", evf_clip(w->open_path),
                        strerror(e));
    }
    done += (size_t)n;
  }
  w->size += w->out.len;
  w->fig.bytes += w->out.len;
  w->out.len = 0;
  return 0;
}

/* Close the file being written and give it its final name. */
static int file_end(struct evf_warc *w, char *msg)
{
  if (w->fd < 0)
    return 0;
  int rc = 0;
  if (close(w->fd) != 0)
    rc = evf_seterr(msg, EVF_EIO, "--warc: cannot close '%s': %s", evf_clip(w->open_path),
                    strerror(errno));
  w->fd = -1;
  if (rc == 0 && w->size == 0) { /* not even its warcinfo was written (a full disk): no file */
    if (unlink(w->open_path) == 0)
      w->fig.files--;
  } else if (rc == 0 && rename(w->open_path, w->path) != 0)
    rc = evf_seterr(msg, EVF_EIO, "--warc: cannot rename '%s': %s", evf_clip(w->open_path),
                    strerror(errno));
  w->seq++;
  return rc;
}

static int fail(struct evf_warc *w, int rc, char *msg)
{
  w->failed = 1;
  snprintf(w->failed_msg, sizeof w->failed_msg, "%s", msg);
  return rc;
}

int evf_warc_write(struct evf_warc *w, const struct evf_warc_hop *hops, size_t n,
                   void (*sync)(void *), void *sync_arg, struct evf_warc_loc *loc, char *msg)
{
  if (w->failed)
    return evf_seterr(msg, EVF_EIO, "%s", w->failed_msg);
  int rc;
  if (w->fd >= 0 && w->fetches_in_file > 0 && w->size >= w->max_size) {
    if (sync)
      sync(sync_arg); /* what this file holds is on record before it is final */
    if ((rc = file_end(w, msg)))
      return fail(w, rc, msg);
  }
  if (w->fd < 0) {
    if ((rc = file_begin(w, msg)) || (rc = put(w, 0, msg)))
      return fail(w, rc, msg);
  }
  uint64_t start = w->size, last_at = 0, last_len = 0;
  w->out.len = 0;
  for (size_t h = 0; h < n; h++) {
    const struct evf_warc_hop *hp = &hops[h];
    char req_id[64], resp_id[64], block_d[40], payload_d[40];
    record_id(w, req_id);
    record_id(w, resp_id);
    /* The request, then the response (as wget and Heritrix write them), each naming the
     * other in WARC-Concurrent-To. */
    char *digests[2] = {block_d, payload_d};
    rc = digest_block(w, hp->req, hp->req_len, 0, digests);
    rc = rc ? rc : http_record(w, "request", req_id, resp_id, hp, hp->req_len, digests, 0);
    rc = rc ? rc : add_record(w, (const char *)w->head.p, w->head.len, hp->req, hp->req_len);
    rc = rc ? rc : digest_block(w, hp->resp, hp->resp_len, 1, digests);
    rc = rc ? rc : http_record(w, "response", resp_id, req_id, hp, hp->resp_len, digests, 1);
    size_t before = w->out.len;
    rc = rc ? rc : add_record(w, (const char *)w->head.p, w->head.len, hp->resp, hp->resp_len);
    if (rc)
      return fail(w, evf_seterr(msg, EVF_ENOMEM, "--warc: out of memory"), msg);
    last_at = start + before;
    last_len = w->out.len - before;
  }
  if ((rc = put(w, start, msg)))
    return fail(w, rc, msg);
  w->fetches_in_file++;
  w->fig.fetches++;
  loc->seq = w->seq;
  loc->offset = last_at;
  loc->length = last_len;
  return 0;
}


struct evf_warc *evf_warc_open(const char *dir, uint32_t rank, uint64_t max_size,
                               const char *info, int *rc, char *msg)
{
  *rc = 0;
  /* The next number for this rank: past every file of it there is. */
  uint32_t next = 0;
  DIR *d = opendir(dir);
  if (!d) {
    *rc = evf_seterr(msg, EVF_EIO, "--warc: cannot read '%s': %s", evf_clip(dir),
                     strerror(errno));
    return NULL;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    uint32_t r, s;
    int op;
    if (evf_warc_parse_name(e->d_name, &r, &s, &op) && r == rank && s >= next)
      next = s + 1;
  }
  closedir(d);
  struct evf_warc *w = calloc(1, sizeof *w);
  if (w) {
    w->dir = strdup(dir);
    w->info = strdup(info ? info : "");
    w->md = EVP_MD_CTX_new();
    w->z = libdeflate_alloc_compressor(1);
  }
  if (!w || !w->dir || !w->info || !w->md || !w->z) {
    struct evf_warc_figures f;
    evf_warc_close(w, &f, msg);
    *rc = evf_seterr(msg, EVF_ENOMEM, "--warc: out of memory");
    return NULL;
  }
  w->fd = -1;
  w->rank = rank;
  w->seq = next;
  w->max_size = max_size;
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid() << 40;
  }
  w->rng = seed ^ (uint64_t)rank * 0x9e3779b97f4a7c15ull;
  return w;
}

int evf_warc_close(struct evf_warc *w, struct evf_warc_figures *fig, char *msg)
{
  memset(fig, 0, sizeof *fig);
  if (!w)
    return 0;
  int rc = file_end(w, msg);
  *fig = w->fig;
  if (w->z)
    libdeflate_free_compressor(w->z);
  EVP_MD_CTX_free(w->md);
  free(w->stage.p);
  free(w->out.p);
  free(w->head.p);
  free(w->dir);
  free(w->info);
  free(w);
  return rc;
}

int evf_warc_info_field(const char *path, const char *name, char *out, size_t n)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  unsigned char in[16384];
  char text[16385];
  ssize_t got = read(fd, in, sizeof in);
  close(fd);
  if (got <= 0)
    return 0;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 16) != Z_OK)
    return 0;
  z.next_in = in;
  z.avail_in = (uInt)got;
  z.next_out = (Bytef *)text;
  z.avail_out = sizeof text - 1;
  inflate(&z, Z_FINISH);
  size_t len = sizeof text - 1 - z.avail_out;
  inflateEnd(&z);
  text[len] = '\0';
  if (strncmp(text, "WARC/", 5) != 0 || !strstr(text, "\r\nWARC-Type: warcinfo\r\n"))
    return 0;
  char key[256];
  snprintf(key, sizeof key, "\r\n%s: ", name);
  const char *v = strstr(text, key);
  if (!v)
    return 0;
  v += strlen(key);
  size_t vl = strcspn(v, "\r\n");
  if (vl >= n)
    return 0;
  memcpy(out, v, vl);
  out[vl] = '\0';
  return 1;
}

int evf_warc_recover(const char *path, uint64_t keep, uint64_t *cut, char *msg)
{
  *cut = 0;
  struct stat st;
  if (stat(path, &st) != 0)
    return evf_seterr(msg, EVF_EIO, "--warc: '%s': %s", evf_clip(path), strerror(errno));
  uint64_t size = (uint64_t)st.st_size;
  if (keep > size)
    keep = size;
  *cut = size - keep;
  size_t n = strlen(path), ns = strlen(OPEN_SUFFIX);
  if (n <= ns || strcmp(path + n - ns, OPEN_SUFFIX) != 0)
    return evf_seterr(msg, EVF_EIO, "--warc: '%s' is not an open file", evf_clip(path));
  if (keep == 0) {
    if (unlink(path) != 0)
      return evf_seterr(msg, EVF_EIO, "--warc: cannot remove '%s': %s", evf_clip(path),
                        strerror(errno));
    return 0;
  }
  if (truncate(path, (off_t)keep) != 0)
    return evf_seterr(msg, EVF_EIO, "--warc: cannot cut '%s': %s", evf_clip(path),
                      strerror(errno));
  char final[4096];
  if (n - ns >= sizeof final)
    return evf_seterr(msg, EVF_EIO, "--warc: '%s': the path is too long", evf_clip(path));
  memcpy(final, path, n - ns);
  final[n - ns] = '\0';
  if (rename(path, final) != 0)
    return evf_seterr(msg, EVF_EIO, "--warc: cannot rename '%s': %s", evf_clip(path),
                      strerror(errno));
  return 0;
}
