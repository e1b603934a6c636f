/* Signal handling and emergency clean-up for a job (see guard.h). */
#include "guard.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_TEMPS 16

static const struct {
  int sig;
  const char *name;
} handled[] = {
  {SIGINT, "SIGINT"},   {SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"},
  {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGPIPE, "SIGPIPE"},
};
#define NSIGNALS (sizeof handled / sizeof handled[0])

/* A handler reaches only globals.  The table is written outside the handler with the
 * signals blocked, so the handler never sees a half-written entry. */
static const char *volatile temps[MAX_TEMPS];
static int users;
static volatile sig_atomic_t my_rank = -1;
static struct sigaction previous[NSIGNALS];
static unsigned char installed[NSIGNALS];

int evf_guard_nsignals(void)
{
  return (int)NSIGNALS;
}

int evf_guard_signal(int k)
{
  return handled[k].sig;
}

static void block(sigset_t *old);

static volatile pid_t *volatile child_groups;
static volatile size_t nchild_groups;

void evf_guard_children(volatile pid_t *groups, size_t n)
{
  sigset_t old;
  block(&old);
  child_groups = groups;
  nchild_groups = groups ? n : 0;
  sigprocmask(SIG_SETMASK, &old, NULL);
}

/* SIGTERM to every child group, a moment for them to end, SIGKILL to what is left
 * (async-signal-safe: kill, nanosleep). */
static void end_children(void)
{
  volatile pid_t *g = child_groups;
  size_t n = nchild_groups, live = 0;
  for (size_t i = 0; g && i < n; i++)
    if (g[i] > 0 && kill(-g[i], SIGTERM) == 0)
      live++;
  if (!live)
    return;
  struct timespec ts = {0, 200000000};
  nanosleep(&ts, NULL);
  for (size_t i = 0; i < n; i++)
    if (g[i] > 0)
      kill(-g[i], SIGKILL);
}

static volatile int journal_fd = -1;
static const unsigned char *volatile journal_buf;
static const volatile size_t *volatile journal_used;
static atomic_int *volatile journal_lock;

void evf_guard_journal(int fd, const unsigned char *buf, const volatile size_t *used,
                       atomic_int *lock)
{
  sigset_t old;
  block(&old);
  journal_fd = buf ? fd : -1;
  journal_buf = buf;
  journal_used = used;
  journal_lock = lock;
  sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Take the journal's buffer for good (the process is ending): wait, up to 1 s, for a flush in
 * progress on another thread (a signal can land on any thread) to finish.  Only the first
 * taker writes it out: a second clean-up (another signal on another thread, or a fatal error
 * while a handler runs) must not write the same frames again. */
static int take_journal(void)
{
  atomic_int *l = journal_lock;
  if (!l)
    return 1;
  for (int k = 0; k < 2000; k++) {
    int free_ = 0;
    if (atomic_compare_exchange_strong(l, &free_, 2))
      return 1;
    if (free_ == 2)
      return 0;
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* Everything a dying process must not leave behind: temporary files, children; and what it
 * must not lose: the journal's buffered frames (async-signal-safe: write, fsync). */
static void clean_up(void)
{
  if (journal_fd >= 0 && journal_buf && journal_used && take_journal()) {
    size_t n = *journal_used, at = 0;
    while (at < n) {
      ssize_t k = write(journal_fd, journal_buf + at, n - at);
      if (k <= 0)
        break;
      at += (size_t)k;
    }
    fsync(journal_fd);
  }
  for (int i = 0; i < MAX_TEMPS; i++)
    if (temps[i])
      unlink(temps[i]);
  end_children();
}

/* Append `s` to buf[*len..cap) (async-signal-safe). */
static void put(char *buf, size_t *len, size_t cap, const char *s)
{
  while (*s && *len + 1 < cap)
    buf[(*len)++] = *s++;
}

static void put_int(char *buf, size_t *len, size_t cap, long v)
{
  char digits[24];
  int n = 0;
  unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
  do
    digits[n++] = (char)('0' + u % 10);
  while ((u /= 10) && n < 23);
  if (v < 0)
    digits[n++] = '-';
  while (n && *len + 1 < cap)
    buf[(*len)++] = digits[--n];
}

static volatile sig_atomic_t *volatile drain_flag;
static struct itimerval term_timer;      /* a SIGTERM drain gives up when it fires (0: never) */
static struct sigaction previous_alrm;
static int alrm_installed;

/* The drain that SIGTERM started did not end in time: the launcher's SIGKILL is near, so stop
 * as a second signal would (temporary files removed, the journal's buffer written, the
 * commands ended), rather than be killed halfway. */
static void on_term_deadline(int sig)
{
  (void)sig;
  clean_up();
  if (my_rank == 0) {
    static const char msg[] =
        "evfarm: the drain that SIGTERM started did not end within --term-grace + 0.5 s "
        "(the launcher's SIGKILL follows): stopped; no results written; the journal keeps "
        "every record that reached rank 0 (--resume goes on) (exit 143)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
  }
  _exit(128 + SIGTERM);
}

void evf_guard_drain(volatile sig_atomic_t *flag, double term_deadline)
{
  sigset_t old, alrm;
  block(&old);
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  sigprocmask(SIG_BLOCK, &alrm, NULL);
  static const struct itimerval off;
  setitimer(ITIMER_REAL, &off, NULL); /* a deadline armed by an earlier drain never fires */
  if (alrm_installed) {
    sigaction(SIGALRM, &previous_alrm, NULL);
    alrm_installed = 0;
  }
  memset(&term_timer, 0, sizeof term_timer);
  if (flag && term_deadline > 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term_deadline;
    sigfillset(&sa.sa_mask);
    alrm_installed = sigaction(SIGALRM, &sa, &previous_alrm) == 0;
    term_timer.it_value.tv_sec = (time_t)term_deadline;
    term_timer.it_value.tv_usec = (suseconds_t)((term_deadline - (double)(time_t)term_deadline) * 1e6);
  }
  drain_flag = flag;
  sigprocmask(SIG_SETMASK, &old, NULL);
}

static void on_signal(int sig)
{
  int saved = errno;
  volatile sig_atomic_t *d = drain_flag;
  if (d && !*d && (sig == SIGUSR1 || sig == SIGTERM)) { /* the first: drain, the loop sees it */
    *d = sig;
    if (sig == SIGTERM && alrm_installed)
      setitimer(ITIMER_REAL, &term_timer, NULL);
    errno = saved;
    return;
  }
  clean_up();
  if (my_rank == 0) {
    char msg[256];
    size_t len = 0;
    const char *name = "a signal";
    for (size_t k = 0; k < NSIGNALS; k++)
      if (handled[k].sig == sig)
        name = handled[k].name;
    put(msg, &len, sizeof msg, "evfarm: interrupted by ");
    put(msg, &len, sizeof msg, name);
    put(msg, &len, sizeof msg, journal_fd >= 0 ? ": no results written; the journal keeps "
                                                 "every record that reached rank 0 (--resume "
                                                 "goes on) (exit "
                                               : ": no results written (exit ");
    put_int(msg, &len, sizeof msg, 128 + sig);
    put(msg, &len, sizeof msg, ")\n");
    ssize_t w = write(STDERR_FILENO, msg, len);
    (void)w;
  }
  errno = saved;
  _exit(128 + sig);
}

/* Block the handled signals around changes to the tables. */
static void block(sigset_t *old)
{
  sigset_t set;
  sigemptyset(&set);
  for (size_t k = 0; k < NSIGNALS; k++)
    sigaddset(&set, handled[k].sig);
  sigprocmask(SIG_BLOCK, &set, old);
}

void evf_guard_enter(int rank)
{
  sigset_t old;
  block(&old);
  if (rank == 0)
    my_rank = 0;
  else if (my_rank < 0)
    my_rank = rank;
  if (users++ == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < NSIGNALS; k++)
      sigaddset(&sa.sa_mask, handled[k].sig);
    for (size_t k = 0; k < NSIGNALS; k++) {
      installed[k] = 0;
      /* Never override an ignored signal: under nohup, SIGHUP must not end the job. */
      if (sigaction(handled[k].sig, NULL, &previous[k]) != 0 || previous[k].sa_handler == SIG_IGN)
        continue;
      installed[k] = sigaction(handled[k].sig, &sa, NULL) == 0;
    }
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
}

void evf_guard_leave(void)
{
  sigset_t old;
  block(&old);
  if (users > 0 && --users == 0) {
    for (size_t k = 0; k < NSIGNALS; k++)
      if (installed[k])
        sigaction(handled[k].sig, &previous[k], NULL);
    my_rank = -1;
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
}

void evf_guard_track(const char *path)
{
  evf_guard_enter(my_rank < 0 ? 0 : my_rank);
  sigset_t old;
  block(&old);
  for (int i = 0; i < MAX_TEMPS; i++)
    if (!temps[i]) {
      temps[i] = path;
      break;
    }
  sigprocmask(SIG_SETMASK, &old, NULL);
}

void evf_guard_untrack(const char *path)
{
  sigset_t old;
  block(&old);
  int found = 0;
  for (int i = 0; i < MAX_TEMPS && !found; i++)
    if (temps[i] == path) {
      temps[i] = NULL;
      found = 1;
    }
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (found)
    evf_guard_leave();
}

static void (*volatile fatal_abort)(void *arg, int code);
static void *volatile fatal_arg;

void evf_guard_on_fatal(void (*abort_fn)(void *arg, int code), void *arg)
{
  fatal_arg = arg;
  fatal_abort = abort_fn;
}

void evf_guard_fatal(const char *what)
{
  block(NULL);
  clean_up();
  char msg[512];
  size_t len = 0;
  put(msg, &len, sizeof msg, "evfarm: rank ");
  put_int(msg, &len, sizeof msg, my_rank < 0 ? 0 : my_rank);
  put(msg, &len, sizeof msg, ": ");
  put(msg, &len, sizeof msg, what);
  put(msg, &len, sizeof msg, "\n");
  ssize_t w = write(STDERR_FILENO, msg, len);
  (void)w;
  /* Not from a signal handler: the job's MPI_Abort ends every rank, where an _exit(3) here
   * would leave the others waiting forever under a launcher that does not end a job when one
   * of its processes exits (a bare srun without --kill-on-bad-exit). */
  void (*abort_fn)(void *, int) = fatal_abort;
  if (abort_fn)
    abort_fn(fatal_arg, 3);
  _exit(3);
}
