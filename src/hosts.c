/* hosts: per-host queues, delays and gates of a rank's requests (hosts.h). */
#include "hosts.h"

#include <ctype.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "gen.h"
#include "hash.h"
#include "robots.h"

struct evf_hosts {
  struct ev_loop *loop;
  double delay, jitter;
  uint64_t seed, draws;
  evf_hosts_release_fn release;
  void *arg;
  struct evf_host **slot; /* open addressing by origin */
  size_t cap, n;
  uint64_t done, active;  /* hosts in each state (evf_hosts_progress) */
};

/* The stream of the jitter's draws (gen.h's streams are per task; this one per rank). */
#define JITTER_STREAM 0x6a77u

struct evf_hosts *evf_hosts_new(struct ev_loop *loop, double delay, double jitter, uint64_t seed,
                                evf_hosts_release_fn release, void *arg)
{
  struct evf_hosts *hs = calloc(1, sizeof *hs);
  if (!hs)
    return NULL;
  hs->loop = loop;
  hs->delay = delay;
  hs->jitter = jitter;
  hs->seed = seed;
  hs->release = release;
  hs->arg = arg;
  return hs;
}

void evf_hosts_free(struct evf_hosts *hs)
{
  if (!hs)
    return;
  for (size_t i = 0; i < hs->cap; i++) {
    struct evf_host *h = hs->slot[i];
    if (!h)
      continue;
    if (h->timer) {
      ev_timer_stop(hs->loop, h->timer);
      free(h->timer);
    }
    evf_robots_free(h->rules);
    free(h->origin);
    free(h);
  }
  free(hs->slot);
  free(hs);
}

size_t evf_hosts_count(const struct evf_hosts *hs)
{
  return hs->n;
}

void evf_host_tasks(struct evf_host *h, uint64_t queued, uint64_t started, uint64_t ended)
{
  struct evf_hosts *hs = h->owner;
  int was_done = h->queued > 0 && h->ended == h->queued, was_active = h->started > h->ended;
  h->queued += queued;
  h->started += started;
  h->ended += ended;
  int done = h->queued > 0 && h->ended == h->queued, active = h->started > h->ended;
  hs->done += (uint64_t)done - (uint64_t)was_done;
  hs->active += (uint64_t)active - (uint64_t)was_active;
}

void evf_hosts_progress(const struct evf_hosts *hs, uint64_t *done, uint64_t *active)
{
  *done = hs->done;
  *active = hs->active;
}

double evf_hosts_bound(const struct evf_hosts *hs, const struct evf_host **h)
{
  double best = 0;
  *h = NULL;
  for (size_t i = 0; i < hs->cap; i++) {
    const struct evf_host *x = hs->slot[i];
    if (!x || x->requests < 2 || x->delay <= 0)
      continue;
    double t = (double)(x->requests - 1) * x->delay;
    if (t > best || (t == best && *h && strcmp(x->origin, (*h)->origin) < 0)) {
      best = t;
      *h = x;
    }
  }
  return best;
}

size_t evf_url_origin(const char *url, char *out, size_t cap)
{
  const char *sep = strstr(url, "://");
  if (!sep || sep == url)
    return 0;
  size_t ls = (size_t)(sep - url);
  const char *auth = sep + 3;
  size_t la = strcspn(auth, "/?#");
  const char *at = memchr(auth, '@', la); /* user:password@ */
  while (at) {
    la -= (size_t)(at + 1 - auth);
    auth = at + 1;
    at = memchr(auth, '@', la);
  }
  size_t lname = la;
  const char *port = NULL;
  if (la && auth[0] == '[') { /* [v6]:port */
    const char *close = memchr(auth, ']', la);
    if (close && (size_t)(close + 1 - auth) < la && close[1] == ':') {
      lname = (size_t)(close + 1 - auth);
      port = close + 2;
    }
  } else {
    const char *colon = memchr(auth, ':', la);
    if (colon) {
      lname = (size_t)(colon - auth);
      port = colon + 1;
    }
  }
  size_t lport = port ? (size_t)(auth + la - port) : 0;
  if (lname == 0 || ls + 3 + lname + 1 + (lport ? lport : 3) + 1 > cap)
    return 0;
  size_t k = 0;
  for (size_t i = 0; i < ls; i++)
    out[k++] = (char)tolower((unsigned char)url[i]);
  memcpy(out + k, "://", 3);
  k += 3;
  for (size_t i = 0; i < lname; i++)
    out[k++] = (char)tolower((unsigned char)auth[i]);
  out[k++] = ':';
  if (lport) {
    memcpy(out + k, port, lport);
    k += lport;
  } else {
    const char *def = ls == 5 && strncasecmp(url, "https", 5) == 0 ? "443" : "80";
    memcpy(out + k, def, strlen(def));
    k += strlen(def);
  }
  out[k] = '\0';
  return k;
}

size_t evf_url_host_name(const char *url, char *out, size_t cap)
{
  size_t k = evf_url_origin(url, out, cap);
  if (!k)
    return 0;
  const char *name = strstr(out, "://") + 3, *colon = strrchr(out, ':');
  size_t n = (size_t)(colon - name);
  memmove(out, name, n);
  out[n] = '\0';
  return n;
}

static int grow(struct evf_hosts *hs)
{
  size_t cap = hs->cap ? 2 * hs->cap : 256;
  struct evf_host **s = calloc(cap, sizeof *s);
  if (!s)
    return -1;
  for (size_t i = 0; i < hs->cap; i++) {
    struct evf_host *h = hs->slot[i];
    if (!h)
      continue;
    size_t j = (size_t)evf_hash_bytes(h->origin, strlen(h->origin)) & (cap - 1);
    while (s[j])
      j = (j + 1) & (cap - 1);
    s[j] = h;
  }
  free(hs->slot);
  hs->slot = s;
  hs->cap = cap;
  return 0;
}

struct evf_host *evf_hosts_get(struct evf_hosts *hs, const char *url, int *oom)
{
  char key[2048];
  size_t n = evf_url_origin(url, key, sizeof key);
  *oom = 0;
  if (!n)
    return NULL;
  if (2 * (hs->n + 1) > hs->cap && grow(hs)) {
    *oom = 1;
    return NULL;
  }
  size_t j = (size_t)evf_hash_bytes(key, n) & (hs->cap - 1);
  for (; hs->slot[j]; j = (j + 1) & (hs->cap - 1))
    if (strcmp(hs->slot[j]->origin, key) == 0)
      return hs->slot[j];
  struct evf_host *h = calloc(1, sizeof *h);
  if (!h || !(h->origin = strdup(key))) {
    free(h);
    *oom = 1;
    return NULL;
  }
  h->delay = hs->delay;
  h->owner = hs;
  hs->slot[j] = h;
  hs->n++;
  return h;
}

/* Requests to `h` are spaced in time (else only the gate holds them). */
static int spaced(const struct evf_host *h)
{
  return h->delay > 0 || h->owner->jitter > 0;
}

static void pump(struct evf_host *h);

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  pump(w->data);
}

/* Arm the host's timer for its queue's next turn, when one can come without another event (a
 * request going out, the gate opening). */
static void schedule(struct evf_host *h)
{
  struct evf_hosts *hs = h->owner;
  if (h->timer)
    ev_timer_stop(hs->loop, h->timer);
  if (!h->head || (h->gate_shut && !h->head->opens_gate) || (spaced(h) && h->pending) ||
      (h->cap && h->inflight >= h->cap))
    return;
  if (!h->timer) {
    ev_timer *t = malloc(sizeof *t);
    if (!t)
      return; /* released by the next event of this host instead */
    ev_init(t, timer_cb);
    t->data = h;
    h->timer = t;
  }
  double wait = spaced(h) ? h->next_start - evf_clock_now() : 0;
  ev_timer_set(h->timer, wait > 0 ? wait : 0, 0.);
  ev_timer_start(hs->loop, h->timer);
}

static void unlink_waiter(struct evf_host_waiter *w)
{
  struct evf_host *h = w->host;
  if (w->prev)
    w->prev->next = w->next;
  else
    h->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    h->tail = w->prev;
  w->prev = w->next = NULL;
  w->queued = 0;
}

/* Release every waiter whose turn has come. */
static void pump(struct evf_host *h)
{
  struct evf_hosts *hs = h->owner;
  while (h->head) {
    struct evf_host_waiter *w = h->head;
    if (h->gate_shut && !w->opens_gate)
      return;
    if (h->cap && h->inflight >= h->cap)
      return; /* released again by evf_host_done() */
    if (spaced(h) && (h->pending || evf_clock_now() < h->next_start)) {
      schedule(h);
      return;
    }
    unlink_waiter(w);
    if (spaced(h))
      h->pending = 1; /* before the callback: a request it starts for this host queues */
    h->inflight++;
    if (hs->release(w, hs->arg)) {
      h->requests++;
    } else {
      h->inflight--;
      if (spaced(h))
        h->pending = 0;
    }
  }
}

int evf_host_try(struct evf_host *h)
{
  if (h->head || h->gate_shut || (h->cap && h->inflight >= h->cap))
    return 0;
  if (spaced(h)) {
    if (h->pending || evf_clock_now() < h->next_start)
      return 0;
    h->pending = 1;
  }
  h->requests++;
  h->inflight++;
  return 1;
}

void evf_host_wait(struct evf_host *h, struct evf_host_waiter *w)
{
  w->host = h;
  w->queued = 1;
  struct evf_host_waiter *after = NULL; /* w goes behind it (NULL: at the front) */
  if (!w->opens_gate) {
    after = h->tail;
    if (w->front) { /* behind the robots.txt fetch and the fronts queued before */
      after = NULL;
      for (struct evf_host_waiter *x = h->head; x && (x->opens_gate || x->front); x = x->next)
        after = x;
    }
  }
  w->prev = after;
  w->next = after ? after->next : h->head;
  if (w->next)
    w->next->prev = w;
  else
    h->tail = w;
  if (after)
    after->next = w;
  else
    h->head = w;
  schedule(h);
}

void evf_host_unwait(struct evf_host_waiter *w)
{
  if (!w->queued)
    return;
  struct evf_host *h = w->host;
  unlink_waiter(w);
  schedule(h);
}

/* The gap to the next start: the delay, plus the jitter's draw. */
static double gap(struct evf_host *h)
{
  struct evf_hosts *hs = h->owner;
  double g = h->delay;
  if (hs->jitter > 0)
    g += hs->jitter * evf_gen_unit(evf_gen_bits(hs->seed, ++hs->draws, JITTER_STREAM));
  return g;
}

void evf_host_begun(struct evf_host *h)
{
  double now = evf_clock_now();
  h->last_start = now;
  if (!spaced(h))
    return;
  h->pending = 0;
  h->next_start = now + gap(h);
  schedule(h);
}

void evf_host_ended(struct evf_host *h)
{
  if (!spaced(h))
    return;
  h->pending = 0;
  h->next_start = evf_clock_now() + gap(h);
  schedule(h);
}

void evf_host_done(struct evf_host *h)
{
  if (h->inflight > 0)
    h->inflight--;
  if (h->cap) /* only a cap makes the queue wait for this */
    schedule(h);
}

void evf_host_gate(struct evf_host *h, int shut)
{
  h->gate_shut = shut;
  schedule(h);
}

void evf_host_set_delay(struct evf_host *h, double delay)
{
  h->delay = delay;
  if (h->last_start > 0 && h->next_start < h->last_start + delay)
    h->next_start = h->last_start + delay; /* counted from the last request (robots.txt) */
  schedule(h);
}
