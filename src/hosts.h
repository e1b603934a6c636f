/* hosts: a rank's politeness towards each host it fetches from (http).  A host is a URL's
 * origin (scheme, name and port: what one robots.txt covers).  Requests to a host wait in its
 * queue for their turn: at least `delay` (plus a jitter) between the starts of two requests,
 * and none while its gate is shut (its robots.txt being fetched) except the one that opens it.
 * The module knows nothing of curl or MPI: it owns one ev_timer per host and calls the kind's
 * release callback for each request whose turn has come. */
#ifndef EVF_HOSTS_H
#define EVF_HOSTS_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct evf_robots;
struct ev_timer;

/* "scheme://name:port" of `url` into out (the scheme and name in lower case, the scheme's port
 * when none is given; userinfo dropped): its length, or 0 (out untouched) when it has no host
 * or does not fit. */
size_t evf_url_origin(const char *url, char *out, size_t cap);
/* The name of `url`'s origin alone, in lower case ("name", "[v6]"): what its origins on other
 * schemes and ports share.  Its length, or 0 as evf_url_origin(). */
size_t evf_url_host_name(const char *url, char *out, size_t cap);

/* What a host's robots.txt said (the kind's; the module only stores it). */
enum evf_host_robots {
  EVF_HOST_ROBOTS_UNKNOWN = 0, /* not fetched yet */
  EVF_HOST_ROBOTS_FETCHING,    /* its fetch is queued or in flight: the gate is shut */
  EVF_HOST_ROBOTS_KNOWN,       /* rules (NULL: everything allowed) */
  EVF_HOST_ROBOTS_FAILED       /* a 5xx, a 429 or no answer: everything disallowed for now */
};

struct evf_host;

/* A request waiting for its host's turn (embedded in the kind's slot). */
struct evf_host_waiter {
  struct evf_host_waiter *prev, *next;
  struct evf_host *host;
  int queued;
  int opens_gate; /* the robots.txt fetch: released while the gate is shut, ahead of the rest */
  int front;      /* a redirect's next hop (its task under way): ahead of the rest, behind the
                     robots.txt fetch and the hops queued before it */
  int remote;     /* the kind's: another rank's turn (a redirect there), not a slot's */
};

struct evf_host {
  char *origin;                 /* "scheme://name:port", the name in lower case */
  int robots;                   /* enum evf_host_robots */
  struct evf_robots *rules;     /* KNOWN: its rules (NULL: everything allowed) */
  int robots_http, robots_curl; /* FAILED: the fetch's HTTP status and curl code */
  uint32_t robots_gen;          /* fetches ended (1 after the first) */
  double delay;                 /* gap between request starts: --host-delay, or a larger
                                   Crawl-delay */
  uint64_t requests;            /* requests started (the first hop of each) */
  uint64_t queued, started, ended; /* its tasks: received by the rank, started, with a final
                                   record (evf_host_tasks) */
  uint32_t inflight;            /* requests started (evf_host_try, a release) and not done
                                   (evf_host_done) */
  uint32_t cap;                 /* 0, or no request starts while `inflight` is at it (set by
                                   the kind: other ranks' requests count too) */
  /* the module's */
  double next_start;            /* no request starts before (monotonic seconds) */
  double last_start;            /* the last request went out (0: none yet) */
  int pending;                  /* a request released has not begun yet (with a delay) */
  int gate_shut;
  struct evf_host_waiter *head, *tail;
  struct evf_hosts *owner;
  struct ev_timer *timer;       /* allocated when first needed */
};

/* release(w, arg): w's turn has come (it has left the queue).  Return 1 when a request was
 * started for it (the host then counts it against the delay and in flight until
 * evf_host_done), 0 when none was (the task ended without one).  It may queue or start other requests, to this host too. */
typedef int (*evf_hosts_release_fn)(struct evf_host_waiter *w, void *arg);

struct evf_hosts;

/* A rank's table; `delay` and `jitter` seconds (--host-delay, --host-delay-jitter), `seed`
 * for the jitter's draws.  NULL when out of memory. */
struct evf_hosts *evf_hosts_new(struct ev_loop *loop, double delay, double jitter, uint64_t seed,
                                evf_hosts_release_fn release, void *arg);
/* Stops every timer and frees every host (waiters still queued are forgotten). */
void evf_hosts_free(struct evf_hosts *hs);

/* The host of `url` (created on first use), or NULL: out of memory (*oom set) or a URL
 * without a host. */
struct evf_host *evf_hosts_get(struct evf_hosts *hs, const char *url, int *oom);
/* Hosts known. */
size_t evf_hosts_count(const struct evf_hosts *hs);
/* Count `queued`, `started` and `ended` more tasks of `h` (progress). */
void evf_host_tasks(struct evf_host *h, uint64_t queued, uint64_t started, uint64_t ended);
/* Hosts whose tasks received so far have all ended, and hosts with a task started and not
 * ended. */
void evf_hosts_progress(const struct evf_hosts *hs, uint64_t *done, uint64_t *active);
/* The host whose requests took longest at their delay: the largest (requests - 1) x delay, in
 * seconds, with *h that host (NULL and 0 when no host made two requests with a delay). */
double evf_hosts_bound(const struct evf_hosts *hs, const struct evf_host **h);

/* May a request to `h` start now, ahead of nothing queued?  1: yes, and it counts as started
 * (call evf_host_begun/ended for it, then evf_host_done); 0: queue it with evf_host_wait. */
int evf_host_try(struct evf_host *h);
/* Queue `w` for `h` (at the front when w->opens_gate, behind those and earlier fronts when
 * w->front, else at the back); released by the callback in its turn. */
void evf_host_wait(struct evf_host *h, struct evf_host_waiter *w);
/* Take `w` out of its queue (a cancelled task); no-op when not queued. */
void evf_host_unwait(struct evf_host_waiter *w);
/* A request started for `h` has gone out (its first hop): the next may start `delay` (plus
 * jitter) later.  Only arms the host's timer: never releases from inside the caller. */
void evf_host_begun(struct evf_host *h);
/* A request started for `h` ended without going out (no connection): the same, from now. */
void evf_host_ended(struct evf_host *h);
/* A request started for `h` (it went out or not) has ended: it no longer counts in flight. */
void evf_host_done(struct evf_host *h);
/* Shut the gate (only waiters that open it pass) or open it (and release what may go). */
void evf_host_gate(struct evf_host *h, int shut);
/* The delay changed (a Crawl-delay): takes effect from the next gap. */
void evf_host_set_delay(struct evf_host *h, double delay);

#endif
