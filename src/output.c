/* Record files, and how rank 0 writes any file: in place for devices and FIFOs, else through a
 * temporary file renamed when every output is complete (see output.h). */
#define _GNU_SOURCE /* O_TMPFILE; realpath */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "guard.h"

static char *dir_of(const char *path);

/* Is `p` a link in /proc (/proc/self/fd/1, where /dev/stdout and /dev/fd/N lead)?  Those are
 * not names but handles on open files: "pipe:[123]" is no path, and a regular file behind one
 * is the caller's open file (a shell's '>' or '>>'), to be written through the link itself. */
static int in_proc(const char *p)
{
  char *dir = dir_of(p);
  char *real = dir ? realpath(dir, NULL) : NULL;
  int yes = real && strncmp(real, "/proc/", 6) == 0;
  free(real);
  free(dir);
  return yes;
}

/* Follow the symbolic links of `path` to the name that is finally written (which need not
 * exist: '> dangling-link' creates the link's target); *handle is set when the chain ends at a
 * link in /proc, which is returned as it is.  Returns a malloc'ed path or NULL with errno set
 * (ELOOP after 40 links, as the kernel). */
static char *follow_links(const char *path, int *handle)
{
  char *p = strdup(path);
  *handle = 0;
  for (int hops = 0; p; hops++) {
    struct stat st;
    if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode))
      return p; /* not a link, or nothing there yet: this is the name */
    if (in_proc(p)) {
      *handle = 1;
      return p;
    }
    if (hops == 40) {
      free(p);
      errno = ELOOP;
      return NULL;
    }
    size_t cap = (size_t)st.st_size + 1 > 256 ? (size_t)st.st_size + 1 : 256;
    char *link = malloc(cap);
    ssize_t n = link ? readlink(p, link, cap) : -1;
    if (n < 0 || (size_t)n >= cap) {
      int e = n < 0 ? errno : ENAMETOOLONG;
      free(link);
      free(p);
      errno = link ? e : ENOMEM;
      return NULL;
    }
    link[n] = '\0';
    char *next;
    const char *slash = strrchr(p, '/');
    if (link[0] == '/' || !slash) {
      next = link;
      link = NULL;
    } else { /* relative to the link's directory */
      size_t dir = (size_t)(slash - p) + 1;
      next = malloc(dir + (size_t)n + 1);
      if (next) {
        memcpy(next, p, dir);
        memcpy(next + dir, link, (size_t)n + 1);
      }
    }
    free(link);
    free(p);
    p = next;
  }
  errno = ENOMEM;
  return NULL;
}

/* The directory part of `path` ("." when none), malloc'ed. */
static char *dir_of(const char *path)
{
  const char *slash = strrchr(path, '/');
  if (!slash)
    return strdup(".");
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, path, n);
    d[n] = '\0';
  }
  return d;
}

static uint64_t random_bits(void)
{
  uint64_t x = 0;
  if (getrandom(&x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
  }
  return x;
}

/* A new name for a temporary file in `dir`: ".evfarm-<16 hex digits>.tmp", of fixed length
 * whatever the final name's (a final name of 255 bytes stays legal).  NULL when out of memory. */
static char *temp_name(const char *dir)
{
  size_t len = strlen(dir) + 32;
  char *name = malloc(len);
  if (name)
    snprintf(name, len, "%s/.evfarm-%016" PRIx64 ".tmp", dir, random_bits());
  return name;
}

static int named_temps;

void evf_outfile_named_temps(int yes)
{
  named_temps = yes;
}

/* Create a new temporary file in `dir`, with mode 0666 less the umask, as a plain open() of
 * the final name would, without touching the process umask (other threads may create files
 * meanwhile).  Anonymous (O_TMPFILE, *anon set, *tmp NULL) where the file system allows it and
 * /proc can name it at the commit; else named (*tmp) and tracked for the signal handlers.
 * Returns the fd, or -1 with errno (a named file's, which says what the directory refuses). */
static int create_temp(const char *dir, char **tmp, int *anon)
{
  *tmp = NULL;
  *anon = 0;
#ifdef O_TMPFILE
  if (!named_temps && access("/proc/self/fd", X_OK) == 0) {
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) {
      *anon = 1;
      return fd;
    }
  }
#endif
  for (int tries = 0; tries < 100; tries++) {
    free(*tmp);
    if (!(*tmp = temp_name(dir))) {
      errno = ENOMEM;
      return -1;
    }
    int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      evf_guard_track(*tmp);
      return fd;
    }
    if (errno != EEXIST)
      break;
  }
  int e = errno;
  free(*tmp);
  *tmp = NULL;
  errno = e;
  return -1;
}

/* Give an anonymous temporary file its temporary name, just before it is renamed over the
 * final one: the name exists only for that moment, tracked from the instant it does. */
static int name_temp(struct evf_outfile *f)
{
  char *dir = dir_of(f->target);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(f->fp));
  int e = ENOMEM;
  for (int tries = 0; dir && tries < 100; tries++) {
    char *name = temp_name(dir);
    if (!name)
      break;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old); /* linked and tracked, or neither, for a handler */
    int ok = linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0;
    e = errno;
    if (ok) {
      f->tmp = name;
      f->anon = 0;
      evf_guard_track(name);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (ok) {
      free(dir);
      return 0;
    }
    free(name);
    if (e != EEXIST)
      break;
  }
  free(dir);
  errno = e;
  return -1;
}

/* Open an existing non-regular file, or an open file reached through /proc, for writing in
 * place.  A regular file so reached is appended to (it is a shell's '>' or '>>' file, already
 * truncated or not as the user asked).  A FIFO without a reader is waited for (as '> fifo'
 * does), at most EVF_FIFO_WAIT seconds: no rank waits without a deadline. */
static int open_in_place(const char *path, const struct stat *st)
{
  if (S_ISREG(st->st_mode))
    return open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
  if (!S_ISFIFO(st->st_mode))
    return open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
  for (int waited = 0;; waited++) {
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      int fl = fcntl(fd, F_GETFL);
      if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
      return fd;
    }
    if (errno != ENXIO || waited >= EVF_FIFO_WAIT * 20)
      return -1;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
  }
}

int evf_outfile_open(struct evf_outfile *f, const char *option, const char *path, char *msg)
{
  memset(f, 0, sizeof *f);
  int handle;
  f->path = strdup(path);
  f->target = follow_links(path, &handle);
  if (!f->path || !f->target) {
    int e = errno;
    evf_outfile_discard(f);
    if (e == ENOMEM)
      return evf_seterr(msg, EVF_ENOMEM, "%s: out of memory", option);
    return evf_seterr(msg, EVF_EUSAGE, "%s: cannot follow the links of '%s': %s", option,
                      evf_clip(path), strerror(e));
  }
  struct stat st;
  int exists = stat(f->target, &st) == 0;
  int e = errno;
  if (exists && S_ISDIR(st.st_mode)) {
    evf_outfile_discard(f);
    return evf_seterr(msg, EVF_EUSAGE, "%s: '%s' is a directory", option, evf_clip(path));
  }
  int fd = -1;
  if (handle && !exists) {
    evf_outfile_discard(f);
    return evf_seterr(msg, EVF_EUSAGE, "%s: cannot open '%s': %s", option, evf_clip(path),
                      strerror(e));
  }
  if (exists && (handle || !S_ISREG(st.st_mode))) {
    /* A device, FIFO or socket, or an open file reached through /proc (/dev/stdout): written
     * where it is, never replaced by a regular file. */
    f->in_place = 1;
    f->shareable = S_ISCHR(st.st_mode);
    f->id_dev = st.st_dev;
    f->id_ino = st.st_ino;
    fd = open_in_place(f->target, &st);
    e = errno;
    if (fd < 0) {
      evf_outfile_discard(f);
      if (e == ENXIO && S_ISFIFO(st.st_mode))
        return evf_seterr(msg, EVF_EUSAGE, "%s: FIFO '%s' has no reader after %d s", option,
                          evf_clip(path), EVF_FIFO_WAIT);
      return evf_seterr(msg, EVF_EUSAGE, "%s: cannot open '%s': %s", option, evf_clip(path),
                        strerror(e));
    }
  } else {
    char *dir = dir_of(f->target);
    struct stat dst;
    if (!dir) {
      evf_outfile_discard(f);
      return evf_seterr(msg, EVF_ENOMEM, "%s: out of memory", option);
    }
    if (exists && access(f->target, W_OK) != 0) {
      /* A file we may not write is not replaced either (as '>' would refuse it). */
      e = errno;
      free(dir);
      evf_outfile_discard(f);
      return evf_seterr(msg, EVF_EUSAGE, "%s: cannot write '%s': %s", option, evf_clip(path),
                        strerror(e));
    }
    if (exists) {
      f->id_dev = st.st_dev;
      f->id_ino = st.st_ino;
    } else if (e != ENOENT || stat(dir, &dst) != 0) {
      e = e != ENOENT ? e : errno;
      free(dir);
      evf_outfile_discard(f);
      return evf_seterr(msg, EVF_EUSAGE, "%s: cannot create '%s': %s", option, evf_clip(path),
                        strerror(e));
    } else {
      const char *slash = strrchr(f->target, '/');
      f->id_dev = dst.st_dev;
      f->id_ino = dst.st_ino;
      f->id_name = strdup(slash ? slash + 1 : f->target);
    }
    fd = create_temp(dir, &f->tmp, &f->anon);
    e = errno;
    free(dir);
    if (fd < 0) {
      evf_outfile_discard(f);
      return evf_seterr(msg, EVF_EUSAGE, "%s: cannot create '%s': %s", option, evf_clip(path),
                        strerror(e));
    }
    /* Replacing a file keeps its permissions, and its owner when we may set it (root). */
    if (exists) {
      if (fchmod(fd, st.st_mode & 07777) != 0) {
        e = errno;
        close(fd);
        evf_outfile_discard(f);
        return evf_seterr(msg, EVF_EUSAGE, "%s: cannot set the mode of '%s': %s", option,
                          evf_clip(path), strerror(e));
      }
      if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
          fchown(fd, st.st_uid, st.st_gid) == 0)
        fchmod(fd, st.st_mode & 07777); /* chown clears set-id bits */
    }
  }
  if (!(f->fp = fdopen(fd, "w"))) {
    e = errno;
    close(fd);
    evf_outfile_discard(f);
    return evf_seterr(msg, EVF_ENOMEM, "%s: cannot open '%s': %s", option, evf_clip(path),
                      strerror(e));
  }
  return 0;
}

int evf_outfile_same(const struct evf_outfile *a, const struct evf_outfile *b)
{
  if (a->shareable && b->shareable)
    return 0;
  if (a->id_dev != b->id_dev || a->id_ino != b->id_ino)
    return 0;
  if (!a->id_name || !b->id_name)
    return !a->id_name && !b->id_name;
  return strcmp(a->id_name, b->id_name) == 0;
}

void evf_outfile_check(struct evf_outfile *f)
{
  if (f->fp && !f->err && ferror(f->fp))
    f->err = errno ? errno : EIO;
}

/* Flush and fsync f->fp; 0, or the errno of the first failure. */
static int flush_sync(struct evf_outfile *f)
{
  evf_outfile_check(f);
  int e = f->err;
  errno = 0;
  if (fflush(f->fp) != 0 && !e)
    e = errno ? errno : EIO;
  /* fsync is meaningless for devices and pipes (EINVAL there) */
  if (fsync(fileno(f->fp)) != 0 && errno != EINVAL && errno != EROFS && !e)
    e = errno;
  return e;
}

static void fsync_dir(const char *target)
{
  char *dir = dir_of(target);
  int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

int evf_outfile_commit_all(struct evf_outfile *const *fs, int n, char *msg)
{
  int bad = -1, e = 0;
  /* Complete every file (a later file's 0 must not replace the first failure's reason), name
   * the anonymous ones (only now: a name that exists can be left behind by a SIGKILL), close,
   * and only then rename: all of them or none. */
  for (int i = 0; i < n; i++) {
    int fe = fs[i]->fp ? flush_sync(fs[i]) : 0;
    if (fe && bad < 0) {
      bad = i;
      e = fe;
    }
  }
  for (int i = 0; bad < 0 && i < n; i++)
    if (fs[i]->fp && fs[i]->anon && name_temp(fs[i]) != 0) {
      e = errno;
      bad = i;
    }
  for (int i = 0; i < n; i++) {
    if (!fs[i]->fp)
      continue;
    errno = 0;
    if (fclose(fs[i]->fp) != 0 && bad < 0) {
      e = errno ? errno : EIO;
      bad = i;
    }
    fs[i]->fp = NULL;
  }
  for (int i = 0; bad < 0 && i < n; i++) {
    if (!fs[i]->tmp)
      continue;
    if (rename(fs[i]->tmp, fs[i]->target) != 0) {
      e = errno;
      bad = i;
      break;
    }
    evf_guard_untrack(fs[i]->tmp);
    free(fs[i]->tmp);
    fs[i]->tmp = NULL;
    fsync_dir(fs[i]->target);
  }
  if (bad >= 0)
    evf_seterr(msg, EVF_EIO, "cannot write '%s': %s", evf_clip(fs[bad]->path), strerror(e));
  for (int i = 0; i < n; i++)
    evf_outfile_discard(fs[i]);
  return bad >= 0 ? EVF_EIO : 0;
}

const char *evf_outfile_temp_name(struct evf_outfile *f)
{
  if (!f->fp || f->in_place)
    return NULL;
  if (f->anon && name_temp(f) != 0)
    return NULL;
  return f->tmp;
}

int evf_outfile_commit(struct evf_outfile *f, char *msg)
{
  return evf_outfile_commit_all(&f, 1, msg);
}

void evf_outfile_discard(struct evf_outfile *f)
{
  if (f->fp)
    fclose(f->fp);
  if (f->tmp) {
    unlink(f->tmp);
    evf_guard_untrack(f->tmp);
  }
  free(f->tmp);
  free(f->path);
  free(f->target);
  free(f->id_name);
  memset(f, 0, sizeof *f);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when s[0] does not start one.  Overlong
 * forms, surrogates and code points past U+10FFFF are not valid (RFC 3629). */
static int utf8_len(const unsigned char *s)
{
  unsigned c = s[0];
  int n;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, min = 0x10000;
  else
    return 0;
  unsigned cp = c & (0x3fu >> (n - 1));
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

void evf_json_string(FILE *out, const char *s)
{
  if (!s) {
    fputs("null", out);
    return;
  }
  fputc('"', out);
  for (const unsigned char *c = (const unsigned char *)s; *c;) {
    int n = utf8_len(c);
    if (*c == '"' || *c == '\\')
      fprintf(out, "\\%c", *c);
    else if (*c < 0x20 || *c == 0x7f || n == 0)
      fprintf(out, "\\u%04x", *c); /* control character, or a stray byte read as Latin-1 */
    else
      fwrite(c, 1, (size_t)n, out);
    c += n ? n : 1;
  }
  fputc('"', out);
}

void evf_csv_field(FILE *out, const char *s)
{
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

/* --- the record writer ---------------------------------------------------------------------- */

/* Room for one record's common fields, whatever their values: integers of at most 20 digits,
 * 5 fixed-point numbers of at most EVF_FIXED_MAX bytes, names and keys. */
#define RECORD_MAX (5 * EVF_FIXED_MAX + 512)

int evf_recwriter_init(struct evf_recwriter *w, FILE *fp, enum evf_format fmt,
                       const struct evf_task_kind *kind)
{
  memset(w, 0, sizeof *w);
  w->fp = fp;
  w->fmt = fmt;
  w->kind = kind;
  w->cap = EVF_RECWRITER_BUF;
  w->buf = malloc(w->cap);
  return w->buf ? 0 : EVF_ENOMEM;
}

void evf_recwriter_init_mem(struct evf_recwriter *w, enum evf_format fmt,
                            const struct evf_task_kind *kind)
{
  memset(w, 0, sizeof *w);
  w->fmt = fmt;
  w->kind = kind;
  w->grow = 1;
}

void evf_recwriter_flush(struct evf_recwriter *w)
{
  if (w->grow)
    return;
  errno = 0;
  if (w->len && fwrite(w->buf, 1, w->len, w->fp) != w->len && !w->err)
    w->err = errno ? errno : EIO; /* the system's reason (ENOSPC), said when the file fails */
  w->bytes += w->len;
  w->len = 0;
}

int evf_recwriter_free(struct evf_recwriter *w)
{
  if (w->buf)
    evf_recwriter_flush(w);
  int rc = w->err || (w->fp && ferror(w->fp)) ? EVF_EIO : 0;
  int e = w->err ? w->err : EIO;
  evf_recwriter_abandon(w);
  if (rc)
    errno = e;
  return rc;
}

void evf_recwriter_abandon(struct evf_recwriter *w)
{
  free(w->buf);
  free(w->host_text);
  w->buf = NULL;
  w->host_text = NULL;
  w->fp = NULL;
}

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of v (at least 1). */
static int ndigits(uint64_t v)
{
  int n = 1;
  for (;;) {
    if (v < 10)
      return n;
    if (v < 100)
      return n + 1;
    if (v < 1000)
      return n + 2;
    if (v < 10000)
      return n + 3;
    v /= 10000;
    n += 4;
  }
}

/* The last `n` digits of v at o[0..n), written right to left, two at a time. */
static inline __attribute__((always_inline)) void put_digits(char *o, uint64_t v, int n)
{
  while (n >= 2) {
    n -= 2;
    memcpy(o + n, digit_pairs + (v % 100) * 2, 2);
    v /= 100;
  }
  if (n == 1)
    o[0] = (char)('0' + v % 10);
}

/* v in decimal, as printf's %llu. */
static inline __attribute__((always_inline)) char *put_u64(char *o, uint64_t v)
{
  int n = ndigits(v);
  put_digits(o, v, n);
  return o + n;
}

static char *put_i64(char *o, int64_t v)
{
  if (v < 0) {
    *o++ = '-';
    return put_u64(o, (uint64_t)0 - (uint64_t)v);
  }
  return put_u64(o, (uint64_t)v);
}

/* x with `prec` (<= 9) digits after the point, byte for byte as printf's %.*f (glibc rounds the
 * exact binary value, an exact tie to even): x = mant 2^-k exactly, so x 10^prec is the integer
 * mant 10^prec over 2^k, rounded.  Values of 1e9 or more, infinities and NaN go to snprintf.
 * Inlined where prec is a constant, so its divisions become multiplications. */
static inline __attribute__((always_inline)) char *fixed(char *o, double x, int prec)
{
  static const uint64_t pow10[10] = {1,      10,      100,      1000,      10000,
                                     100000, 1000000, 10000000, 100000000, 1000000000};
  if (!(fabs(x) < 1e9))
    return o + snprintf(o, EVF_FIXED_MAX, "%.*f", prec, x);
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  if (bits >> 63)
    *o++ = '-';
  /* x = mant 2^-k exactly: the stored exponent and 52 bits, with the hidden bit unless
   * subnormal (or zero); |x| < 1e9 < 2^30 makes k > 22 */
  int expo = (int)((bits >> 52) & 0x7ff);
  uint64_t mant = bits & ((1ULL << 52) - 1);
  if (expo)
    mant |= 1ULL << 52;
  else
    expo = 1;
  int k = 1075 - expo;
  uint64_t q = 0;
  if (k < 100) {
    unsigned __int128 num = (unsigned __int128)mant * pow10[prec]; /* < 2^83 */
    unsigned __int128 one = (unsigned __int128)1 << k;
    q = (uint64_t)(num >> k);
    unsigned __int128 rem = num & (one - 1), half = one >> 1;
    if (rem > half || (rem == half && (q & 1)))
      q++;
  } /* else x 10^prec < 2^83 / 2^100: rounds to 0 */
  o = put_u64(o, q / pow10[prec]);
  if (prec > 0) {
    *o++ = '.';
    put_digits(o, q % pow10[prec], prec);
    o += prec;
  }
  return o;
}

char *evf_put_fixed(char *o, double x, int prec)
{
  return fixed(o, x, prec);
}

#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

static char *put_str(char *o, const char *s)
{
  size_t n = strlen(s);
  memcpy(o, s, n);
  return o + n;
}

/* Make room for n more bytes. */
static char *room(struct evf_recwriter *w, size_t n)
{
  if (w->cap - w->len < n && w->grow) { /* in memory: the buffer grows, nothing is flushed */
    size_t cap = w->cap ? w->cap : EVF_RECWRITER_BUF;
    while (cap - w->len < n)
      cap *= 2;
    char *g = realloc(w->buf, cap);
    if (!g)
      evf_guard_fatal("out of memory writing a record");
    w->buf = g;
    w->cap = cap;
  }
  if (w->cap - w->len < n)
    evf_recwriter_flush(w);
  if (w->cap < n) { /* one field longer than the buffer (a long input line) */
    char *g = realloc(w->buf, n);
    if (!g)
      evf_guard_fatal("out of memory writing a record");
    w->buf = g;
    w->cap = n;
  }
  return w->buf + w->len;
}

/* Text that may need escaping (a node name, an input line), through the FILE functions'
 * rules: as a CSV field or a JSON string. */
static void put_text(struct evf_recwriter *w, const char *s, int json)
{
  size_t n = strlen(s);
  char *o = room(w, 6 * n + 3), *o0 = o;
  if (!json) {
    if (!strpbrk(s, ",\"\r\n")) {
      memcpy(o, s, n);
      o += n;
    } else {
      *o++ = '"';
      for (; *s; s++) {
        if (*s == '"')
          *o++ = '"';
        *o++ = *s;
      }
      *o++ = '"';
    }
  } else {
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c;) {
      int len = utf8_len(c);
      if (*c == '"' || *c == '\\') {
        *o++ = '\\';
        *o++ = (char)*c;
      } else if (*c < 0x20 || *c == 0x7f || len == 0) {
        static const char hex[] = "0123456789abcdef";
        memcpy(o, "\\u00", 4);
        o[4] = hex[*c >> 4];
        o[5] = hex[*c & 15];
        o += 6;
      } else {
        memcpy(o, c, (size_t)len);
        o += len;
      }
      c += len ? len : 1;
    }
    *o++ = '"';
  }
  w->len += (size_t)(o - o0);
}

void evf_recwriter_header(struct evf_recwriter *w)
{
  if (w->fmt != EVF_FORMAT_CSV)
    return;
  evf_recwriter_flush(w);
  fputs("id,rank,host,batch,iterations,value,io_delay,t_start,t_io_done,t_end,cpu_time,status,"
        "attempts,last_error", w->fp);
  if (w->kind->input_column)
    fprintf(w->fp, ",%s", w->kind->input_column);
  if (w->kind->csv_header)
    fputs(w->kind->csv_header, w->fp);
  fputc('\n', w->fp);
}

void evf_recwriter_put(struct evf_recwriter *w, const struct evf_record *r, const char *host,
                       const char *input)
{
  const int json = w->fmt == EVF_FORMAT_JSONL;
  const struct evf_task_kind *kind = w->kind;
  char *o = room(w, RECORD_MAX), *o0 = o;
  if (json) {
    o = PUT_LIT(o, "{\"id\":");
    o = put_u64(o, r->id);
    o = PUT_LIT(o, ",\"rank\":");
    o = put_i64(o, r->rank);
    o = PUT_LIT(o, ",\"host\":");
  } else {
    o = put_u64(o, r->id);
    *o++ = ',';
    o = put_i64(o, r->rank);
    *o++ = ',';
  }
  w->len += (size_t)(o - o0);
  /* Node names come from the environment and may hold anything: escaped once per name. */
  if (host != w->host || !w->host_text) {
    room(w, 6 * strlen(host) + 3); /* so put_text does not flush: the text stays at mark */
    size_t mark = w->len;
    put_text(w, host, json);
    free(w->host_text);
    w->host_len = w->len - mark;
    w->host_text = malloc(w->host_len);
    if (w->host_text)
      memcpy(w->host_text, w->buf + mark, w->host_len);
    w->host = host;
  } else {
    memcpy(room(w, w->host_len), w->host_text, w->host_len);
    w->len += w->host_len;
  }
  o = o0 = room(w, RECORD_MAX);
#define KEY(lit) (json ? PUT_LIT(o, lit) : (*o = ',', o + 1))
  o = KEY(",\"batch\":");
  o = put_u64(o, r->batch);
  o = KEY(",\"iterations\":");
  o = put_u64(o, r->iterations);
  o = KEY(",\"value\":");
  o = put_u64(o, r->value);
  o = KEY(",\"io_delay\":");
  o = fixed(o, evf_record_io_delay(r), 6);
  o = KEY(",\"t_start\":");
  o = fixed(o, r->t_start, 6);
  o = KEY(",\"t_io_done\":");
  o = fixed(o, r->t_io_done, 6);
  o = KEY(",\"t_end\":");
  o = fixed(o, r->t_end, 6);
  o = KEY(",\"cpu_time\":");
  o = fixed(o, r->cpu_time, 9);
  o = KEY(",\"status\":\"");
  o = put_str(o, evf_status_name(r->status));
  if (json)
    *o++ = '"';
  o = KEY(",\"attempts\":");
  o = put_u64(o, r->attempts);
  o = KEY(",\"last_error\":");
#undef KEY
  if (!json)
    o = put_str(o, r->last_error ? evf_status_name(r->last_error) : "");
  else if (r->last_error) {
    *o++ = '"';
    o = put_str(o, evf_status_name(r->last_error));
    *o++ = '"';
  } else
    o = PUT_LIT(o, "null");
  if (kind->input_column) {
    if (json) {
      *o++ = ',';
      *o++ = '"';
      o = put_str(o, kind->input_column);
      *o++ = '"';
      *o++ = ':';
    } else
      *o++ = ',';
  }
  w->len += (size_t)(o - o0);
  if (kind->input_column) {
    if (json && !input) {
      o = room(w, 4);
      memcpy(o, "null", 4);
      w->len += 4;
    } else
      put_text(w, input ? input : "", json);
  }
  if (kind->write_ext) { /* the kind's fields, through its FILE writer */
    if (w->grow)
      evf_guard_fatal("a kind's FILE writer cannot write into memory");
    evf_recwriter_flush(w);
    kind->write_ext(w->fp, w->fmt, r);
  }
  o = room(w, 2);
  if (json)
    *o++ = '}';
  *o = '\n';
  w->len += json ? 2 : 1;
}

int evf_output_records(FILE *fp, enum evf_format fmt, const struct evf_task_kind *kind,
                       const void *recs, uint64_t n, int nranks,
                       const char (*hosts)[EVF_HOST_LEN], const char *const *inputs,
                       const unsigned char *have)
{
  size_t stride = evf_task_record_size(kind);
  struct evf_recwriter w;
  if (evf_recwriter_init(&w, fp, fmt, kind))
    return EVF_ENOMEM;
  evf_recwriter_header(&w);
  for (uint64_t i = 0; i < n; i++) {
    if (have && have[i] == 0)
      continue; /* not run (a drained run): no record */
    const struct evf_record *r = evf_record_cat(recs, stride, i);
    int known = r->rank >= 0 && r->rank < nranks && !(have && have[i] == 1);
    evf_recwriter_put(&w, r, known ? hosts[r->rank] : "", inputs ? inputs[i] : NULL);
  }
  return evf_recwriter_free(&w);
}

int evf_dir_writable(const char *option, const char *dir, char *msg)
{
  char probe[4096];
  snprintf(probe, sizeof probe, "%s/.evfarm-probe-%ld", dir, (long)getpid());
  int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    return evf_seterr(msg, EVF_EUSAGE, "--%s: cannot create files in '%s' on %s: %s (it must be a "
                                       "directory every node can write)",
                      option, evf_clip(dir), host, strerror(errno));
  }
  close(fd);
  unlink(probe);
  return 0;
}
