/* The exec kind: run each task's command as /bin/sh -c LINE in its own process group, spawned
 * with posix_spawn (the MPI process is never fork()ed) through evfarm-exec-shim (exec_shim.c:
 * it starts the shell from itself and reports the command's own status and rusage on a pipe,
 * so maxrss is not the rank's), its exit watched through a pidfd in an
 * ev_io (ev_child works only on libev's default loop), stdout and stderr read through pipes
 * watched by ev_io (a chatty child never blocks on a full pipe), counted and hashed (XXH3-64),
 * and written to --outdir when given.  Deadlines and retries are the runner's: a cancelled task's
 * whole process group gets SIGTERM, then SIGKILL after EVF_EXEC_KILL_GRACE seconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "cli.h"
#include "clock.h"
#include "exec_shim.h"
#include "error.h"
#include "guard.h"
#include "output.h"
#include "record.h"
#include "task.h"

extern char **environ;

/* Seconds between SIGTERM and SIGKILL for a cancelled task's process group. */
#define EVF_EXEC_KILL_GRACE 2.0
/* Bytes of a failed task's stderr kept in its record (its last ones). */
#define TAIL 192

/* The record extension of an exec task (264 bytes): the last attempt's figures. */
struct exec_ext {
  double user_s, sys_s;  /* the child's CPU (and its waited-for descendants'), from wait4 */
  uint64_t maxrss_kib;   /* the child's peak resident memory */
  uint64_t out_bytes, err_bytes;
  uint64_t out_hash, err_hash; /* XXH3-64 of stdout and stderr (seed 0) */
  int32_t exit_code;     /* -1 when it did not exit (signal, timeout, spawn error) */
  int32_t signal;        /* the signal that ended it; 0 when none */
  int32_t sys_errno;     /* spawn_error / error: the system's reason */
  uint16_t tail_len;     /* bytes in tail */
  uint16_t tail_note;    /* 1: tail holds evfarm's reason (a spawn error's), not stderr */
  char tail[TAIL];       /* a failed task's last stderr bytes */
};
_Static_assert(sizeof(struct exec_ext) % 8 == 0, "a record extension is a multiple of 8 bytes");

struct exec_stream {
  int fd;                /* the pipe's read end; -1 when closed */
  ev_io w;
  int file;              /* --outdir file, or -1 */
  uint64_t bytes;
  XXH3_state_t *hash;
};

struct exec_slot {
  struct evf_task *task;
  size_t gidx;           /* its entry in exec_shared.groups */
  struct exec_shared *sh;
  pid_t pid;             /* 0 when no child */
  int pidfd;
  ev_io pw;
  struct exec_stream out, err;
  char tail[TAIL];       /* ring of stderr's last bytes */
  size_t tail_at;
  uint64_t tail_total;
  int write_errno;       /* a failed write to --outdir */
  int report;            /* the shim's report (its read end), or -1 */
  double spawned;
  char **envp;           /* the base environment + the task's EVFARM_* variables */
  char env[4][48];
  char *cmd;             /* the expanded --command */
  size_t cmd_cap;
  int used;
};

/* A cancelled child, still dying: reaped when its pidfd fires, SIGKILLed after the grace. */
struct exec_dying {
  pid_t pid;
  size_t gidx;           /* its entry in exec_shared.groups */
  int pidfd;
  ev_io pw;
  ev_timer grace;
  struct exec_shared *sh;
  struct exec_dying *prev, *next;
};

struct exec_shared {
  struct ev_loop *loop;
  int devnull;           /* /dev/null, opened once: every child's stdin */
  sigset_t ignored;      /* signals this process ignores: the children get them back (an
                            ignored signal stays ignored across exec; caught ones do not) */
  const struct evf_options *opt;
  char **base_env;
  size_t nenv;
  struct exec_slot **slots; /* every slot used, for close() */
  size_t nslots, cap;
  struct exec_dying *dying;
  /* Every live child's process group, for the guard: one entry per slot, then DYING_MAX for
   * cancelled children still dying (0 = free). */
  volatile pid_t *groups;
  size_t ngroups, slot_groups;
  int sentinel;          /* our end of the sentinel's stdin (see sentinel_start) */
  char shim[4096];       /* evfarm-exec-shim, or "" (commands spawned directly) */
  pid_t sentinel_pid;
  char buf[65536];
};

#define DYING_MAX 1024

static int evf_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/* --- the sentinel: no command outlives its rank ---------------------------------------------
 * The guard ends the children's process groups when the rank is stopped by a signal it can
 * handle; a SIGKILL (a launcher's, after the SIGTERM it forwarded; kill -9) leaves nothing to
 * run clean-up code in the rank.  So each rank starts a sentinel: a small shell, in a process
 * group of its own (a signal to the rank's group does not reach it), that ignores the usual
 * signals and reads, on a socket from the rank, "+ PGID" when a command starts and "- PGID"
 * when its group is gone.  When the socket reaches its end -- the rank closed it after its own
 * clean-up, or the kernel closed it because the rank died, however -- the sentinel sends
 * SIGTERM to the groups still listed, then SIGKILL 0.2 s later, and exits.  The commands'
 * grandchildren are in their groups too, so nothing a task started outlives the rank by more
 * than that. */
static const char sentinel_script[] =
    "trap '' INT TERM HUP QUIT USR1 USR2 PIPE\n"
    "live=' '\n"
    "while read -r op pg; do\n"
    "  case $op in\n"
    "    +) live=\"$live$pg \" ;;\n"
    "    -) case $live in *\" $pg \"*) live=\"${live%% $pg *} ${live#* $pg }\" ;; esac ;;\n"
    "  esac\n"
    "done\n"
    "set -- $live\n"
    "[ $# -eq 0 ] && exit 0\n"
    "for pg; do kill -TERM -$pg 2>/dev/null; done\n"
    "sleep 0.2\n"
    "for pg; do kill -KILL -$pg 2>/dev/null; done\n";

/* Where evfarm-exec-shim is (exec_shim.c): beside this program after `cmake --install`
 * (PREFIX/bin/evfarm, PREFIX/libexec/evfarm/evfarm-exec-shim) or in its build tree, else where
 * this build put it.  "" when none is found: commands are then spawned directly, and their
 * maxrss_kib includes the rank's own peak (docs/kinds.md says so). */
static void find_shim(char *out, size_t n)
{
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  out[0] = '\0';
  if (len > 0) {
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      const char *rel[] = {"/../libexec/evfarm/evfarm-exec-shim", "/evfarm-exec-shim",
                           "/../evfarm-exec-shim"};
      for (size_t k = 0; k < sizeof rel / sizeof rel[0] && !out[0]; k++) {
        snprintf(out, n, "%s%s", exe, rel[k]);
        if (access(out, X_OK) != 0)
          out[0] = '\0';
      }
    }
  }
#ifdef EVF_EXEC_SHIM_BUILT
  if (!out[0] && access(EVF_EXEC_SHIM_BUILT, X_OK) == 0)
    snprintf(out, n, "%s", EVF_EXEC_SHIM_BUILT);
#endif
}

/* Start this rank's sentinel.  Returns 0, or an errno. */
static int sentinel_start(struct exec_shared *sh)
{
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return errno;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  posix_spawn_file_actions_adddup2(&fa, sh->devnull, 1);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_init(&at);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigfillset(&dfl);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &dfl);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
  char *argv[] = {"/bin/sh", "-c", (char *)sentinel_script, "evfarm-sentinel", NULL};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    return rc;
  }
  sh->sentinel = sv[0];
  sh->sentinel_pid = pid;
  return 0;
}

/* Tell the sentinel a group started ('+') or is gone ('-').  Never blocks for long (the
 * sentinel reads as it comes), never raises SIGPIPE. */
static void sentinel_note(struct exec_shared *sh, char op, pid_t pgid)
{
  if (sh->sentinel < 0)
    return;
  char line[32];
  int n = snprintf(line, sizeof line, "%c %ld\n", op, (long)pgid);
  if (send(sh->sentinel, line, (size_t)n, MSG_NOSIGNAL) != n) {
    close(sh->sentinel); /* it is gone: nothing more to tell it */
    sh->sentinel = -1;
  }
}

/* After the rank's own clean-up (no command left): the sentinel reads the end and exits. */
static void sentinel_stop(struct exec_shared *sh)
{
  if (sh->sentinel >= 0)
    close(sh->sentinel);
  sh->sentinel = -1;
  if (sh->sentinel_pid > 0)
    waitpid(sh->sentinel_pid, NULL, 0);
  sh->sentinel_pid = 0;
}

/* --- the dying: cancelled children ------------------------------------------------------- */

static void dying_free(struct exec_dying *d)
{
  struct exec_shared *sh = d->sh;
  sh->groups[d->gidx] = 0;
  sentinel_note(sh, '-', d->pid);
  ev_io_stop(sh->loop, &d->pw);
  ev_timer_stop(sh->loop, &d->grace);
  close(d->pidfd);
  if (d->prev)
    d->prev->next = d->next;
  else
    sh->dying = d->next;
  if (d->next)
    d->next->prev = d->prev;
  free(d);
}

static void dying_reaped(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)loop;
  (void)revents;
  struct exec_dying *d = w->data;
  /* The leader has ended (its pidfd says so); as a zombie it still holds the group's id, so
   * what it left in the group goes first, then it is reaped. */
  kill(-d->pid, SIGKILL);
  if (waitpid(d->pid, NULL, WNOHANG) == 0)
    return;
  dying_free(d);
}

static void dying_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct exec_dying *d = w->data;
  kill(-d->pid, SIGKILL);
}

/* SIGTERM to the child's group now; it is reaped when it ends, SIGKILLed if it outlasts the
 * grace.  Without memory for the bookkeeping: SIGKILL at once and reap (it cannot outlive us). */
static void kill_group(struct exec_shared *sh, pid_t pid, int pidfd)
{
  size_t gidx = sh->slot_groups;
  while (gidx < sh->ngroups && sh->groups[gidx])
    gidx++;
  struct exec_dying *d = gidx < sh->ngroups ? calloc(1, sizeof *d) : NULL;
  if (!d) {
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    sentinel_note(sh, '-', pid);
    close(pidfd);
    return;
  }
  kill(-pid, SIGTERM);
  d->gidx = gidx;
  sh->groups[gidx] = pid;
  d->pid = pid;
  d->pidfd = pidfd;
  d->sh = sh;
  ev_io_init(&d->pw, dying_reaped, pidfd, EV_READ);
  d->pw.data = d;
  ev_io_start(sh->loop, &d->pw);
  ev_timer_init(&d->grace, dying_grace, EVF_EXEC_KILL_GRACE, 0.);
  d->grace.data = d;
  ev_timer_start(sh->loop, &d->grace);
  d->next = sh->dying;
  if (sh->dying)
    sh->dying->prev = d;
  sh->dying = d;
}

/* --- reading the child's output ------------------------------------------------------------ */

static void stream_close(struct exec_shared *sh, struct exec_stream *st)
{
  if (st->fd >= 0) {
    ev_io_stop(sh->loop, &st->w);
    close(st->fd);
    st->fd = -1;
  }
  if (st->file >= 0) {
    close(st->file);
    st->file = -1;
  }
}

static void keep_tail(struct exec_slot *es, const char *p, size_t n)
{
  es->tail_total += n;
  if (n > TAIL) {
    p += n - TAIL;
    n = TAIL;
  }
  for (size_t k = 0; k < n; k++) {
    es->tail[es->tail_at] = p[k];
    es->tail_at = (es->tail_at + 1) % TAIL;
  }
}

/* Read what the pipe holds (at most `rounds` buffers, so one chatty child cannot starve the
 * loop); returns 1 at end of file or error (the stream is then closed). */
static int stream_read(struct exec_slot *es, struct exec_stream *st, int rounds)
{
  struct exec_shared *sh = es->sh;
  while (rounds-- > 0) {
    ssize_t n = read(st->fd, sh->buf, sizeof sh->buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (n <= 0) {
      stream_close(sh, st);
      return 1;
    }
    st->bytes += (uint64_t)n;
    XXH3_64bits_update(st->hash, sh->buf, (size_t)n);
    if (st == &es->err)
      keep_tail(es, sh->buf, (size_t)n);
    for (ssize_t at = 0; st->file >= 0 && at < n;) {
      ssize_t w = write(st->file, sh->buf + at, (size_t)(n - at));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        es->write_errno = errno;
        close(st->file);
        st->file = -1;
        break;
      }
      at += w;
    }
  }
  return 0;
}

static void stream_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)loop;
  (void)revents;
  struct exec_slot *es = w->data;
  stream_read(es, w == &es->out.w ? &es->out : &es->err, 4);
}

/* --- the end of a child ---------------------------------------------------------------------- */

static void fill_tail(struct exec_slot *es, struct exec_ext *x)
{
  size_t n = es->tail_total < TAIL ? (size_t)es->tail_total : TAIL;
  size_t start = (es->tail_at + TAIL - n) % TAIL;
  for (size_t k = 0; k < n; k++)
    x->tail[k] = es->tail[(start + k) % TAIL];
  x->tail_len = (uint16_t)n;
}

static void note_streams(struct exec_slot *es, struct exec_ext *x)
{
  x->out_bytes = es->out.bytes;
  x->err_bytes = es->err.bytes;
  x->out_hash = XXH3_64bits_digest(es->out.hash);
  x->err_hash = XXH3_64bits_digest(es->err.hash);
  es->task->rec->value = x->out_hash;
  evf_record_set_io_us(es->task->rec, evf_clock_us(evf_clock_now() - es->spawned));
}

static void report_close(struct exec_slot *es)
{
  if (es->report >= 0)
    close(es->report);
  es->report = -1;
}

/* The shim's report of the command (written before the shim exited, so it is in the pipe):
 * 1 with *r set, or 0 (no shim, or it died before it could write: its own figures stand). */
static int report_read(struct exec_slot *es, struct evf_exec_report *r)
{
  if (es->report < 0)
    return 0;
  ssize_t n;
  while ((n = read(es->report, r, sizeof *r)) < 0 && errno == EINTR)
    ;
  report_close(es);
  return n == (ssize_t)sizeof *r && r->magic == EVF_EXEC_REPORT_MAGIC;
}

/* The child ended: reap it (with its rusage), take what its pipes still hold (all it wrote is
 * there once it has exited), close them, and end the attempt.  The child is the shim, when
 * there is one: its report has the command's own status and figures. */
static void child_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)loop;
  (void)revents;
  struct exec_slot *es = w->data;
  struct exec_shared *sh = es->sh;
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  /* What it left in its process group goes first, while the (zombie) leader still holds the
   * group's id: background processes do not outlive their task. */
  kill(-es->pid, SIGKILL);
  pid_t got = wait4(es->pid, &status, WNOHANG, &ru);
  int wait_errno = errno;
  if (got == 0)
    return;
  ev_io_stop(sh->loop, &es->pw);
  close(es->pidfd);
  if (es->out.fd >= 0)
    stream_read(es, &es->out, 64);
  if (es->err.fd >= 0)
    stream_read(es, &es->err, 64);
  stream_close(sh, &es->out);
  stream_close(sh, &es->err);
  sentinel_note(sh, '-', es->pid);
  es->pid = 0;
  sh->groups[es->gidx] = 0;

  struct exec_ext *x = evf_task_ext(es->task);
  x->user_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6;
  x->sys_s = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  x->maxrss_kib = (uint64_t)ru.ru_maxrss;
  struct evf_exec_report rep;
  if (got > 0 && report_read(es, &rep)) {
    status = rep.status;
    x->user_s = rep.user_us * 1e-6;
    x->sys_s = rep.sys_us * 1e-6;
    x->maxrss_kib = rep.maxrss_kib > 0 ? (uint64_t)rep.maxrss_kib : 0;
  }
  report_close(es);
  x->exit_code = -1;
  x->signal = 0;
  x->sys_errno = 0;
  x->tail_len = 0;
  x->tail_note = 0;
  note_streams(es, x);
  int rs, transient = 0;
  if (got < 0) {
    x->sys_errno = wait_errno;
    rs = EVF_STATUS_ERROR;
  } else if (WIFEXITED(status)) {
    x->exit_code = WEXITSTATUS(status);
    rs = x->exit_code == 0 ? EVF_STATUS_OK : EVF_STATUS_EXIT;
    transient = rs == EVF_STATUS_EXIT && (sh->opt->retry_on & EVF_RETRY_ON_EXIT);
  } else {
    x->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    rs = EVF_STATUS_SIGNAL;
    transient = (sh->opt->retry_on & EVF_RETRY_ON_SIGNAL) != 0;
  }
  if (rs == EVF_STATUS_OK && es->write_errno) {
    x->sys_errno = es->write_errno;
    rs = EVF_STATUS_ERROR;
  }
  if (rs != EVF_STATUS_OK)
    fill_tail(es, x);
  evf_task_io_end(es->task, rs, transient, 0);
}

/* --- starting a child ------------------------------------------------------------------------- */

/* The bytes of TEMPLATE with every {} replaced by `arg` quoted (below), its NUL included. */
static size_t expanded_size(const char *tmpl, const char *arg)
{
  size_t quoted = 2;
  for (const char *p = arg; *p; p++)
    quoted += *p == '\'' ? 4 : 1;
  size_t need = 1;
  for (const char *p = tmpl; *p; p++)
    need += p[0] == '{' && p[1] == '}' ? (p++, quoted) : 1;
  return need;
}

/* The kernel's limit on one argument of exec (MAX_ARG_STRLEN: 32 pages), the command line
 * sh -c gets. */
#define EXEC_ARG_MAX (32u * 4096u)

/* An input line is bad input when the command it makes does not fit in one argument: said at
 * read time with its FILE:LINE, not as a spawn error of that task mid-run. */
static int exec_input_check(const struct evf_options *opt, const char *line, char *why)
{
  size_t n = opt->command ? expanded_size(opt->command, line) : strlen(line) + 1;
  if (n > EXEC_ARG_MAX)
    return evf_seterr(why, EVF_EUSAGE, "the command it makes is %zu bytes%s, over the %u "
                      "the kernel allows one argument (sh -c COMMAND)", n - 1,
                      opt->command ? " with --command's quoting" : "", EXEC_ARG_MAX - 1);
  return 0;
}

/* TEMPLATE with every {} replaced by `arg` in single quotes (' inside as '\''). */
static const char *expand(struct exec_slot *es, const char *tmpl, const char *arg)
{
  size_t need = expanded_size(tmpl, arg);
  if (need > es->cmd_cap) {
    char *c = realloc(es->cmd, need);
    if (!c)
      return NULL;
    es->cmd = c;
    es->cmd_cap = need;
  }
  char *o = es->cmd;
  for (const char *p = tmpl; *p; p++) {
    if (p[0] == '{' && p[1] == '}') {
      *o++ = '\'';
      for (const char *a = arg; *a; a++) {
        if (*a == '\'') {
          memcpy(o, "'\\''", 4);
          o += 4;
        } else {
          *o++ = *a;
        }
      }
      *o++ = '\'';
      p++;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  return es->cmd;
}

static int slot_init(struct exec_shared *sh, struct exec_slot *es, struct evf_task *t)
{
  es->out.fd = es->err.fd = es->out.file = es->err.file = -1; /* before anything can fail */
  es->report = -1;
  es->task = t;
  es->sh = sh;
  if (sh->nslots >= sh->slot_groups)
    return -1;
  if (sh->nslots == sh->cap) {
    size_t cap = sh->cap ? 2 * sh->cap : 16;
    struct exec_slot **s = realloc(sh->slots, cap * sizeof *s);
    if (!s)
      return -1;
    sh->slots = s;
    sh->cap = cap;
  }
  es->envp = malloc((sh->nenv + 5) * sizeof *es->envp);
  es->out.hash = XXH3_createState();
  es->err.hash = XXH3_createState();
  es->gidx = sh->nslots;
  sh->slots[sh->nslots++] = es;
  es->used = 1;
  if (!es->envp || !es->out.hash || !es->err.hash)
    return -1;
  memcpy(es->envp, sh->base_env, sh->nenv * sizeof *es->envp);
  for (int k = 0; k < 4; k++)
    es->envp[sh->nenv + (size_t)k] = es->env[k];
  es->envp[sh->nenv + 4] = NULL;
  return 0;
}

/* Why an attempt could not start, in the record's stderr tail (its reader sees it there, beside
 * the errno): "evfarm: --outdir: ...". */
static void spawn_note(struct exec_slot *es, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void spawn_note(struct exec_slot *es, const char *fmt, ...)
{
  char m[TAIL + 1];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  size_t len = (size_t)n < TAIL ? (size_t)n : TAIL;
  memcpy(es->tail, m, len); /* the ring holds just this: it ends where the next byte would go */
  es->tail_at = len % TAIL;
  es->tail_total = len;
}

/* DIR/ID.EXT for a command's output: created, or an earlier run's regular file truncated.
 * Anything else there is refused, never opened for writing through: a symbolic link (its target
 * could be any file: O_NOFOLLOW), a FIFO or a device (lstat first, then fstat of what was
 * opened, in case it changed in between).  Returns the descriptor, or -1 with errno set and the
 * reason in the task's stderr tail. */
static int open_outfile(struct exec_slot *es, uint32_t id, const char *ext)
{
  const char *dir = es->sh->opt->outdir;
  char path[4096];
  snprintf(path, sizeof path, "%s/%u.%s", dir, (unsigned)id, ext);
  struct stat st;
  int fd = -1, e = 0;
  const char *what = NULL;
  if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    e = S_ISLNK(st.st_mode) ? ELOOP : EEXIST;
  } else {
    fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd < 0)
      e = errno;
    else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      e = errno ? errno : EEXIST;
    else if (ftruncate(fd, 0) != 0)
      e = errno;
    if (e && fd >= 0)
      close(fd);
  }
  if (!e)
    return fd;
  if (e == ELOOP)
    what = "a symbolic link: refused (evfarm never writes through one)";
  else if (e == EEXIST || e == ENXIO)
    what = "not a regular file: refused";
  struct stat ds;
  if (!what && e == ENOENT && stat(dir, &ds) != 0)
    spawn_note(es, "evfarm: --outdir: '%s' no longer exists", dir);
  else
    spawn_note(es, "evfarm: --outdir: '%s' is %s", path, what ? what : strerror(e));
  errno = e;
  return -1;
}

static int spawn_fail(struct exec_slot *es, int err)
{
  struct exec_ext *x = evf_task_ext(es->task);
  x->exit_code = -1;
  x->sys_errno = err;
  fill_tail(es, x);
  x->tail_note = x->tail_len > 0; /* spawn_note() wrote it */
  stream_close(es->sh, &es->out);
  stream_close(es->sh, &es->err);
  return EVF_STATUS_SPAWN_ERROR;
}

static int exec_io_start(struct evf_task *t)
{
  struct exec_shared *sh = evf_task_shared(t);
  struct exec_slot *es = evf_task_state(t);
  const struct evf_options *opt = sh->opt;
  struct evf_record *rec = t->rec;
  if ((!es->used && slot_init(sh, es, t)) || !es->envp || !es->out.hash || !es->err.hash)
    return spawn_fail(es, ENOMEM);
  const char *cmd = opt->command ? expand(es, opt->command, evf_task_input(t)) : evf_task_input(t);
  if (!cmd)
    return spawn_fail(es, ENOMEM);
  snprintf(es->env[0], sizeof es->env[0], "EVFARM_TASK_ID=%u", (unsigned)rec->id);
  snprintf(es->env[1], sizeof es->env[1], "EVFARM_RANK=%d", (int)rec->rank);
  snprintf(es->env[2], sizeof es->env[2], "EVFARM_ATTEMPT=%u", (unsigned)rec->attempts);
  snprintf(es->env[3], sizeof es->env[3], "EVFARM_NTASKS=%u", (unsigned)opt->tasks);
  XXH3_64bits_reset(es->out.hash);
  XXH3_64bits_reset(es->err.hash);
  es->out.bytes = es->err.bytes = 0;
  es->tail_at = 0;
  es->tail_total = 0;
  es->write_errno = 0;
  if (opt->outdir) {
    es->out.file = open_outfile(es, rec->id, "out");
    es->err.file = es->out.file >= 0 ? open_outfile(es, rec->id, "err") : -1;
    if (es->err.file < 0)
      return spawn_fail(es, errno);
  }

  int op[2] = {-1, -1}, ep[2] = {-1, -1};
  if (pipe2(op, O_CLOEXEC) || pipe2(ep, O_CLOEXEC)) {
    int e = errno;
    for (int k = 0; k < 2; k++) {
      if (op[k] >= 0)
        close(op[k]);
      if (ep[k] >= 0)
        close(ep[k]);
    }
    return spawn_fail(es, e);
  }
  fcntl(op[0], F_SETFL, O_NONBLOCK);
  fcntl(ep[0], F_SETFL, O_NONBLOCK);
  int rp[2] = {-1, -1}; /* the shim's report */
  if (sh->shim[0] && pipe2(rp, O_CLOEXEC) == 0 && rp[1] <= 3) { /* fd 3 is where it goes */
    int hi = fcntl(rp[1], F_DUPFD_CLOEXEC, 10);
    close(rp[1]);
    rp[1] = hi;
  }
  if (sh->shim[0] && (rp[0] < 0 || rp[1] < 0)) {
    int e = errno;
    for (int k = 0; k < 2; k++) {
      if (rp[k] >= 0)
        close(rp[k]);
      close(op[k]);
      close(ep[k]);
    }
    return spawn_fail(es, e);
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sh->devnull, 0);
  posix_spawn_file_actions_adddup2(&fa, op[1], 1);
  posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
  if (rp[1] >= 0)
    posix_spawn_file_actions_adddup2(&fa, rp[1], 3);
  posix_spawn_file_actions_addclosefrom_np(&fa, rp[1] >= 0 ? 4 : 3); /* MPI's stay ours */
  posix_spawnattr_init(&at);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &sh->ignored);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
  char *argv[] = {sh->shim, "3", "/bin/sh", "-c", (char *)cmd, NULL};
  char **args = sh->shim[0] ? argv : argv + 2;
  pid_t pid = 0;
  es->spawned = evf_clock_now(); /* monotonic: a wall-clock step is not a task's time */
  int rc = posix_spawn(&pid, args[0], &fa, &at, args, es->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(op[1]);
  close(ep[1]);
  if (rp[1] >= 0)
    close(rp[1]);
  es->report = rp[0];
  int pidfd = rc == 0 ? evf_pidfd_open(pid) : -1;
  if (rc != 0 || pidfd < 0) {
    int e = rc ? rc : errno;
    if (rc == 0) { /* spawned, but cannot be watched: end it */
      kill(-pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
    close(op[0]);
    close(ep[0]);
    report_close(es);
    return spawn_fail(es, e);
  }
  es->pid = pid;
  es->pidfd = pidfd;
  sh->groups[es->gidx] = pid;
  sentinel_note(sh, '+', pid);
  es->out.fd = op[0];
  es->err.fd = ep[0];
  ev_io_init(&es->out.w, stream_cb, op[0], EV_READ);
  es->out.w.data = es;
  ev_io_init(&es->err.w, stream_cb, ep[0], EV_READ);
  es->err.w.data = es;
  ev_io_init(&es->pw, child_cb, pidfd, EV_READ);
  es->pw.data = es;
  ev_io_start(sh->loop, &es->out.w);
  ev_io_start(sh->loop, &es->err.w);
  ev_io_start(sh->loop, &es->pw);
  return EVF_STATUS_OK;
}

/* The deadline passed: the figures so far into the record, the process group to the dying. */
static void exec_cancel(struct evf_task *t)
{
  struct exec_shared *sh = evf_task_shared(t);
  struct exec_slot *es = evf_task_state(t);
  ev_io_stop(sh->loop, &es->pw);
  stream_close(sh, &es->out);
  stream_close(sh, &es->err);
  struct exec_ext *x = evf_task_ext(t);
  memset(x, 0, sizeof *x);
  x->exit_code = -1;
  note_streams(es, x);
  fill_tail(es, x);
  sh->groups[es->gidx] = 0;
  report_close(es);
  kill_group(sh, es->pid, es->pidfd);
  es->pid = 0;
}

static int exec_cpu_run(struct evf_task *t)
{
  (void)t; /* the output was hashed as it came */
  return EVF_STATUS_OK;
}

/* --- per rank -------------------------------------------------------------------------------- */

/* mkdir -p DIR (mode 0777 less the umask, as GNU parallel's --results): every rank tries, and
 * a rank that finds it made already (EEXIST) goes on. */
static void make_outdir(const char *dir)
{
  char p[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof p)
    return;
  memcpy(p, dir, n + 1);
  for (size_t k = 1; k <= n; k++)
    if (p[k] == '/' || p[k] == '\0') {
      char c = p[k];
      p[k] = '\0';
      if (mkdir(p, 0777) != 0 && errno != EEXIST)
        return; /* evf_dir_writable() says why */
      p[k] = c;
    }
}


static void exec_close(void *shared)
{
  struct exec_shared *sh = shared;
  if (!sh)
    return;
  for (size_t i = 0; i < sh->nslots; i++) {
    struct exec_slot *es = sh->slots[i];
    if (es->pid > 0) { /* only when a run was abandoned */
      kill(-es->pid, SIGKILL);
      waitpid(es->pid, NULL, 0);
      sentinel_note(sh, '-', es->pid);
      ev_io_stop(sh->loop, &es->pw);
      close(es->pidfd);
    }
    stream_close(sh, &es->out);
    stream_close(sh, &es->err);
    report_close(es);
    XXH3_freeState(es->out.hash);
    XXH3_freeState(es->err.hash);
    free(es->envp);
    free(es->cmd);
    es->used = 0;
  }
  while (sh->dying) {
    kill(-sh->dying->pid, SIGKILL);
    waitpid(sh->dying->pid, NULL, 0);
    dying_free(sh->dying);
  }
  evf_guard_children(NULL, 0);
  sentinel_stop(sh);
  free(sh->slots);
  free(sh->base_env);
  free((void *)sh->groups);
  close(sh->devnull);
  free(sh);
}

static int exec_open(struct ev_loop *loop, const struct evf_options *opt, uint64_t nslots,
                     void **shared, char *msg)
{
  /* Per command in flight: three pipes (stdout, stderr, the shim's report), a pidfd, two
   * --outdir files; and some to spare. */
  int rc0 = evf_task_reserve_files(6 * nslots + 64, nslots, "commands", msg);
  if (rc0)
    return rc0;
  if (opt->outdir) {
    make_outdir(opt->outdir); /* every rank can create files there (it must be shared) */
    int rc = evf_dir_writable("outdir", opt->outdir, msg);
    if (rc)
      return rc;
  }
  struct exec_shared *sh = calloc(1, sizeof *sh);
  size_t n = 0;
  while (environ && environ[n])
    n++;
  if (sh) {
    sh->base_env = malloc((n + 1) * sizeof *sh->base_env);
    sh->slot_groups = (size_t)nslots;
    sh->ngroups = (size_t)nslots + DYING_MAX;
    sh->groups = calloc(sh->ngroups, sizeof *sh->groups);
  }
  if (!sh || !sh->base_env || !sh->groups) {
    if (sh) {
      free(sh->base_env);
      free((void *)sh->groups);
    }
    free(sh);
    return evf_seterr(msg, EVF_ENOMEM, "cannot allocate the exec kind's state");
  }
  static const char *const ours[] = {"EVFARM_TASK_ID=", "EVFARM_RANK=", "EVFARM_ATTEMPT=",
                                     "EVFARM_NTASKS="};
  for (size_t i = 0; i < n; i++) {
    int mine = 0;
    for (size_t k = 0; k < 4; k++)
      mine |= strncmp(environ[i], ours[k], strlen(ours[k])) == 0;
    if (!mine)
      sh->base_env[sh->nenv++] = environ[i];
  }
  sh->loop = loop;
  sh->opt = opt;
  sh->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (sh->devnull < 0) {
    int e = errno;
    free(sh->base_env);
    free((void *)sh->groups);
    free(sh);
    return evf_seterr(msg, EVF_EIO, "cannot open /dev/null: %s", strerror(e));
  }
  sh->sentinel = -1;
  find_shim(sh->shim, sizeof sh->shim);
  int e = sentinel_start(sh);
  if (e) {
    close(sh->devnull);
    free(sh->base_env);
    free((void *)sh->groups);
    free(sh);
    return evf_seterr(msg, EVF_EIO, "cannot start the process that ends this rank's commands "
                      "when it dies (/bin/sh): %s", strerror(e));
  }
  sigemptyset(&sh->ignored);
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
      sigaddset(&sh->ignored, sig);
  }
  evf_guard_children(sh->groups, sh->ngroups);
  *shared = sh;
  return 0;
}

/* Child CPU seconds of a record: work done off the loop, on the node's cores. */
static double exec_offloop_cpu(const struct evf_record *rec)
{
  const struct exec_ext *x = evf_record_ext(rec);
  return x->user_s + x->sys_s;
}

/* --- output ------------------------------------------------------------------------------------ */

static void exec_write_ext(FILE *fp, enum evf_format fmt, const struct evf_record *rec)
{
  const struct exec_ext *x = evf_record_ext(rec);
  char text[3 * TAIL + 1];
  if (x->sys_errno && !x->tail_note) {
    snprintf(text, sizeof text, "%s", strerror(x->sys_errno));
  } else { /* a NUL byte of stderr would end the text: U+FFFD in its place, as decoders do */
    size_t n = x->tail_len < TAIL ? x->tail_len : TAIL, o = 0;
    for (size_t k = 0; k < n; k++) {
      if (x->tail[k] != '\0') {
        text[o++] = x->tail[k];
      } else {
        memcpy(text + o, "\xef\xbf\xbd", 3);
        o += 3;
      }
    }
    text[o] = '\0';
  }
  if (fmt == EVF_FORMAT_JSONL) {
    fprintf(fp,
            ",\"exit_code\":%d,\"signal\":%d,\"user_s\":%.6f,\"sys_s\":%.6f,\"maxrss_kib\":%llu"
            ",\"stdout_bytes\":%llu,\"stdout_hash\":\"%016llx\",\"stderr_bytes\":%llu"
            ",\"stderr_hash\":\"%016llx\",\"error\":",
            (int)x->exit_code, (int)x->signal, x->user_s, x->sys_s,
            (unsigned long long)x->maxrss_kib, (unsigned long long)x->out_bytes,
            (unsigned long long)x->out_hash, (unsigned long long)x->err_bytes,
            (unsigned long long)x->err_hash);
    evf_json_string(fp, text);
  } else {
    fprintf(fp, ",%d,%d,%.6f,%.6f,%llu,%llu,%016llx,%llu,%016llx,", (int)x->exit_code,
            (int)x->signal, x->user_s, x->sys_s, (unsigned long long)x->maxrss_kib,
            (unsigned long long)x->out_bytes, (unsigned long long)x->out_hash,
            (unsigned long long)x->err_bytes, (unsigned long long)x->err_hash);
    evf_csv_field(fp, text);
  }
}

const struct evf_task_kind evf_task_kind_exec = {
  .name = "exec",
  .state_size = sizeof(struct exec_slot),
  .ext_size = sizeof(struct exec_ext),
  .input_option = "commands",
  .input_column = "input",
  .input_check = exec_input_check,
  .open = exec_open,
  .close = exec_close,
  .io_start = exec_io_start,
  .cancel = exec_cancel,
  .cpu_run = exec_cpu_run,
  .offloop_cpu = exec_offloop_cpu,
  .csv_header = ",exit_code,signal,user_s,sys_s,maxrss_kib,stdout_bytes,stdout_hash,"
                "stderr_bytes,stderr_hash,error",
  .write_ext = exec_write_ext,
};
