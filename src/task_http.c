/* The http kind: fetch each task's URL with libcurl's multi_socket interface driven by the
 * rank's libev loop (one multi handle per rank: an ev_io per socket curl asks us to watch, one
 * ev_timer for curl's timeouts), then process the body on the loop thread: bytes, lines, links
 * (href=) and its XXH3-64 hash (xxHash).  Deadlines and retries are the runner's; this file
 * says which failures are transient.  With --warc each attempt's requests and responses are
 * captured as they cross the wire (curl's debug callback: the bytes as sent and received, before
 * any decoding) and the last attempt's are kept in the rank's WARC files (warc.c). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <curl/curl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <xxhash.h>

#include "cli.h"
#include "clock.h"
#include "error.h"
#include "hosts.h"
#include "inputs.h"
#include "output.h"
#include "record.h"
#include "robots.h"
#include "task.h"
#include "owners.h"
#include "warc.h"

/* The record extension of an http task (88 bytes): the last attempt's figures. */
struct http_ext {
  uint64_t bytes;        /* body bytes received and processed (at most --max-body) */
  uint64_t hash;         /* XXH3-64 of those bytes (seed 0) */
  double t_dns, t_connect, t_first_byte, t_total; /* curl's timings, seconds from the start */
  uint32_t lines;        /* '\n' bytes in the body */
  uint32_t links;        /* occurrences of "href=" in the body, in any case */
  int32_t http_status;   /* the last response's status code; 0 when none */
  int32_t curl_code;     /* curl's result (CURLcode); 0 when the transfer completed */
  uint32_t redirects;    /* redirects followed */
  uint32_t warc_seq;     /* --warc: the file of its response (evf_warc_file_name(rank, seq)) */
  uint64_t warc_offset;  /* --warc: its last response record's gzip member: where, */
  uint64_t warc_length;  /* how long; 0: nothing kept */
};
_Static_assert(sizeof(struct http_ext) % 8 == 0, "a record extension is a multiple of 8 bytes");

/* A socket curl asked us to watch. */
struct http_sock {
  ev_io io;
  struct http_shared *h;
  struct http_sock *prev, *next;
};

/* A growing byte buffer. */
struct bytes {
  char *p;
  size_t len, cap;
};

/* --warc: one request and its response as they crossed the wire. */
struct http_hop {
  struct bytes url, req, resp;
  char ip[64];
  double date;           /* the wall clock when the request went out */
};

/* Per in-flight slot (and per robots.txt fetch). */
struct http_slot {
  struct evf_host_waiter wait; /* first: the slot of a waiter (hosts.h) */
  CURL *easy;            /* created at the slot's first attempt, reused for every task */
  uint64_t limit;        /* body bytes kept: --max-body, or a robots.txt's most */
  struct evf_host *host; /* polite: the host of the hop's URL (NULL: none) */
  struct evf_host *home; /* polite: the host of the task's URL (its progress counts there) */
  int follow;            /* polite: redirects are followed here, each hop admitted in turn */
  uint32_t redirs;       /* redirects this attempt followed so far (follow) */
  double wire_prev;      /* the attempt's time on the wire in its earlier hops (follow) */
  struct bytes next_url; /* the hop's URL when it is a redirect's (follow) */
  const char *url;       /* the hop's URL: the task's input, or next_url */
  int cross;             /* the hop went to another origin than the task's URL: the headers
                            without credentials */
  int host_started;      /* a request was started for the host and has not gone out yet */
  int host_held;         /* a request started for the host counts in its flight (inflight) */
  uint32_t turn_seq;     /* its hop's turn asked of the host's owner, no answer yet (0: none) */
  struct http_slot *turn_prev, *turn_next; /* the slots asking (http_shared.asking) */
  int turn_held;         /* rank 0 holds its turn until the host's batch is dealt */
  int turn_granted;      /* its transfer is the owner's granted turn: */
  int turn_owner, turn_begun; /* the owner, the request went out */
  uint32_t turn_gseq, turn_ticket; /* its seq, the owner's number of the turn */
  int robots_fetch;      /* this slot fetches a host's robots.txt (no task) */
  uint32_t robots_seen;  /* the host's robots_gen whose failure refused this task's attempt */
  struct http_slot *next_free; /* a robots slot's, when idle */
  char *body;
  size_t len, cap;
  int truncated;         /* the body was longer than --max-body */
  int no_memory;         /* the body could not be stored */
  struct evf_task *task;
  double begun_at;       /* the attempt got its connection (first pre-request call); 0: not */
  double setup;          /* curl's DNS + connect (+ TLS) time for it, the queue left out */
  int complete;          /* the attempt got a whole response */
  struct http_hop *hops; /* --warc: the attempt's hops so far (nhops), buffers kept for reuse */
  size_t nhops, cap_hops;
  int capture_failed;    /* --warc: a hop could not be stored in memory */
};

/* Per rank. */
struct http_shared {
  struct ev_loop *loop;
  const struct evf_options *opt;
  CURLM *multi;
  ev_timer timer;        /* curl's single timeout */
  struct http_slot **slots; /* every slot that has an easy handle, for close() */
  size_t nslots, cap;
  struct http_sock *socks;
  struct curl_slist *headers; /* --header */
  struct curl_slist *headers_cross; /* --header but Authorization and Cookie: for a redirect
                                       to another origin, as curl does */
  struct evf_warc *warc;      /* --warc: this rank's writer, opened at its first fetch */
  struct evf_hosts *hosts;    /* polite (--robots obey, --host-delay): per-host turns */
  struct http_slot *robots_free; /* robots.txt slots not in use */
  struct evf_task *any_task;  /* a task of this runner, for evf_task_sync/fail of a robots.txt */
  uint64_t robots_fetched, robots_failed;
  char *warc_info;            /* the warcinfo fields */
  int warc_failed;
  /* Turns (task.h): more than one rank, hosts dealt by name.  A redirect to a name another
   * rank owns asks that rank for its turn; this rank answers the others' at its hosts. */
  int turns;
  struct evf_names *own;      /* the host names this rank owns (its tasks', and those rank 0
                                 gave it) */
  uint32_t turn_seq;          /* turns asked so far */
  struct http_slot *asking;   /* slots waiting for an answer */
  uint64_t held;              /* of those, held by rank 0 (EVF_TURN_HELD) */
  struct remote_turn **rts;   /* turns asked of this rank, by ticket - 1 */
  size_t nrts, caprts;
  struct remote_turn *rts_free; /* of those, the ended ones (reused first) */
  uint64_t owed;              /* of those, not yet ended */
};

/* Another rank's turn at one of this rank's hosts. */
struct remote_turn {
  struct evf_host_waiter wait; /* first: the turn of a waiter (wait.remote) */
  int requester;
  uint32_t seq, ticket;
  char *url;
  int live, begun;
  struct remote_turn *next_free;
};

static int curl_ready(void)
{
  static int done;
  if (!done && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
    done = 1;
  return done;
}

/* --urls lines: a URL curl can parse, with a scheme.  A scheme curl does not speak is not bad
 * input: that task ends with status error. */
static int http_input_check(const struct evf_options *opt, const char *line, char *why)
{
  (void)opt;
  if (!curl_ready())
    return evf_seterr(why, EVF_ENOMEM, "cannot initialise libcurl");
  CURLU *u = curl_url();
  if (!u)
    return evf_seterr(why, EVF_ENOMEM, "out of memory");
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, line, CURLU_NON_SUPPORT_SCHEME);
  curl_url_cleanup(u);
  if (rc != CURLUE_OK)
    return evf_seterr(why, EVF_EUSAGE, "'%s' is not a URL (%s)", evf_clip(line),
                      curl_url_strerror(rc));
  return 0;
}

/* --- curl's multi_socket callbacks on libev ------------------------------------------------ */

static void check_done(struct http_shared *h);

static void sock_cb_ev(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)loop;
  struct http_sock *s = w->data;
  struct http_shared *h = s->h;
  int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
  int running;
  curl_multi_socket_action(h->multi, w->fd, action, &running);
  check_done(h);
}

static void timer_cb_ev(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop;
  (void)revents;
  struct http_shared *h = w->data;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: one timer, in seconds exactly (curl's own libev example divides the
 * milliseconds as integers, which makes every sub-second timeout 0). */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
  (void)multi;
  struct http_shared *h = userp;
  ev_timer_stop(h->loop, &h->timer);
  if (timeout_ms >= 0) {
    ev_timer_set(&h->timer, (double)timeout_ms / 1000.0, 0.);
    ev_timer_start(h->loop, &h->timer);
  }
  return 0;
}

static void sock_free(struct http_shared *h, struct http_sock *s)
{
  ev_io_stop(h->loop, &s->io);
  if (s->prev)
    s->prev->next = s->next;
  else
    h->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch `fd` for what curl wants, or stop watching it. */
static int curl_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
  (void)easy;
  struct http_shared *h = userp;
  struct http_sock *s = sockp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      sock_free(h, s);
      curl_multi_assign(h->multi, fd, NULL);
    }
    return 0;
  }
  int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s)
      return -1; /* curl fails this transfer */
    s->h = h;
    s->next = h->socks;
    if (h->socks)
      h->socks->prev = s;
    h->socks = s;
    ev_init(&s->io, sock_cb_ev);
    s->io.data = s;
    curl_multi_assign(h->multi, fd, s);
  } else {
    ev_io_stop(h->loop, &s->io);
  }
  ev_io_set(&s->io, fd, events);
  ev_io_start(h->loop, &s->io);
  return 0;
}

/* --- one transfer ---------------------------------------------------------------------------- */

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
  struct http_slot *hs = userp;
  size_t n = size * nmemb;
  uint64_t room = hs->limit - hs->len;
  size_t take = n <= room ? n : (size_t)room;
  if (hs->len + take > hs->cap) {
    size_t cap = hs->cap ? hs->cap : 16384;
    while (cap < hs->len + take)
      cap *= 2;
    char *b = realloc(hs->body, cap);
    if (!b) {
      hs->no_memory = 1;
      return 0;
    }
    hs->body = b;
    hs->cap = cap;
  }
  memcpy(hs->body + hs->len, data, take);
  hs->len += take;
  if (take < n) {
    hs->truncated = 1;
    return 0; /* stop the transfer: CURLE_WRITE_ERROR */
  }
  return n;
}

static int bytes_add(struct bytes *b, const void *p, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q)
      return -1;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

/* --warc: a new request goes out: a new hop (after a response), or the current one anew (curl
 * sends a request again on a fresh connection when a reused one turned out dead). */
static struct http_hop *hop_begin(struct http_slot *hs)
{
  struct http_hop *hop = hs->nhops ? &hs->hops[hs->nhops - 1] : NULL;
  if (!hop || hop->resp.len > 0) {
    if (hs->nhops == hs->cap_hops) {
      size_t cap = hs->cap_hops ? 2 * hs->cap_hops : 2;
      struct http_hop *h = realloc(hs->hops, cap * sizeof *h);
      if (!h)
        return NULL;
      memset(h + hs->cap_hops, 0, (cap - hs->cap_hops) * sizeof *h);
      hs->hops = h;
      hs->cap_hops = cap;
    }
    hop = &hs->hops[hs->nhops++];
  }
  hop->url.len = hop->req.len = hop->resp.len = 0;
  char *url = NULL, *ip = NULL;
  curl_easy_getinfo(hs->easy, CURLINFO_EFFECTIVE_URL, &url);
  curl_easy_getinfo(hs->easy, CURLINFO_PRIMARY_IP, &ip);
  if (bytes_add(&hop->url, url ? url : "", url ? strlen(url) : 0))
    return NULL;
  snprintf(hop->ip, sizeof hop->ip, "%s", ip ? ip : "");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  hop->date = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
  return hop;
}

/* CURLOPT_DEBUGFUNCTION (--warc): the bytes of the requests and responses as they go out and
 * come in (headers, then the body with its transfer and content encodings). */
static int debug_cb(CURL *e, curl_infotype type, char *data, size_t size, void *userp)
{
  (void)e;
  struct http_slot *hs = userp;
  if (hs->capture_failed)
    return 0;
  struct http_hop *hop = hs->nhops ? &hs->hops[hs->nhops - 1] : NULL;
  int rc = 0;
  switch (type) {
  case CURLINFO_HEADER_OUT:
    if (!hop || hop->resp.len > 0 || hop->req.len > 0)
      hop = hop_begin(hs);
    rc = hop ? bytes_add(&hop->req, data, size) : -1;
    break;
  case CURLINFO_DATA_OUT:
    rc = hop ? bytes_add(&hop->req, data, size) : 0;
    break;
  case CURLINFO_HEADER_IN:
  case CURLINFO_DATA_IN:
    rc = hop ? bytes_add(&hop->resp, data, size) : 0;
    break;
  default:
    break;
  }
  if (rc)
    hs->capture_failed = 1;
  return 0;
}

/* A note on the slot's granted turn to its owner. */
static void turn_note(struct http_slot *hs, int value)
{
  struct evf_turn n = {.type = EVF_TURN_NOTE, .owner = hs->turn_owner, .seq = hs->turn_gseq,
                       .ticket = hs->turn_ticket, .value = value};
  evf_turn_send(evf_task_loop(hs->task), &n);
}

/* The slot's granted transfer has ended (gone out or not): the owner's host counts it no more. */
static void turn_end(struct http_slot *hs)
{
  if (!hs->turn_granted)
    return;
  hs->turn_granted = 0;
  turn_note(hs, hs->turn_begun ? EVF_TURN_SENT : EVF_TURN_UNSENT);
}

/* curl has a connection for the transfer and is about to send the request: the deadline of
 * the attempt counts from here, not from a wait in curl's queue for a connection to the host. */
static int prereq_cb(void *userp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
  (void)primary_ip;
  (void)local_ip;
  (void)primary_port;
  (void)local_port;
  struct http_slot *hs = userp;
  if (hs->begun_at == 0) { /* the first hop: what connecting took, from when curl started
                              connecting (after any wait for a connection to the host) */
    curl_off_t conn = 0, app = 0;
    curl_easy_getinfo(hs->easy, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(hs->easy, CURLINFO_APPCONNECT_TIME_T, &app);
    hs->setup = (double)(app > conn ? app : conn) / 1e6;
    hs->begun_at = evf_clock_now();
    if (hs->host_started) { /* the request goes out: the host's next turn counts from here */
      hs->host_started = 0;
      evf_host_begun(hs->host);
    }
    if (hs->turn_granted && !hs->turn_begun) { /* the same, at the owner */
      hs->turn_begun = 1;
      turn_note(hs, EVF_TURN_BEGUN);
    }
  }
  if (hs->task)
    evf_task_io_begun(hs->task);
  return CURL_PREREQFUNC_OK;
}

static double seconds(CURL *e, CURLINFO what)
{
  curl_off_t us = 0;
  curl_easy_getinfo(e, what, &us);
  return (double)us * 1e-6;
}

/* Transient: the server or the network may do better on a later attempt. */
static int transient_curl(CURLcode rc)
{
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP3:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_WEIRD_SERVER_REPLY:
    return 1;
  default:
    return 0;
  }
}

/* The attempt's time on the wire: connecting, then from its first request to now (all its
 * redirects), but not the wait in curl's queue for a connection to the host (curl's total time
 * counts that wait, which --host-connections makes as long as the queue).  An attempt that
 * never got a connection: curl's total time. */
static double wire_time(struct http_slot *hs, double curl_total)
{
  return hs->begun_at > 0 ? hs->setup + (evf_clock_now() - hs->begun_at) : curl_total;
}

/* The figures of the attempt that just ended (or is being cancelled) into the extension. */
static void note_attempt(struct http_slot *hs, CURLcode rc)
{
  CURL *e = hs->easy;
  struct http_ext *x = evf_task_ext(hs->task);
  long code = 0, redirs = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &redirs);
  x->http_status = (int32_t)code;
  x->curl_code = (int32_t)rc;
  x->redirects = (uint32_t)redirs + hs->redirs;
  x->t_dns = seconds(e, CURLINFO_NAMELOOKUP_TIME_T);
  x->t_connect = seconds(e, CURLINFO_CONNECT_TIME_T);
  x->t_first_byte = seconds(e, CURLINFO_STARTTRANSFER_TIME_T);
  x->t_total = hs->wire_prev + wire_time(hs, seconds(e, CURLINFO_TOTAL_TIME_T));
  x->bytes = hs->len;
  /* The fetch's own time is this kind's I/O time in the summary's lower bound. */
  evf_record_set_io_us(hs->task->rec, evf_clock_us(x->t_total));
}

/* Does the response opt out of being processed and kept?  An X-Robots-Tag header (for every
 * robot, or for ours: "evfarm: ..." or the product token of --user-agent) with noai, noindex,
 * noimageai or noimageindex among its comma-separated directives, as img2dataset reads it. */
static int opted_out(CURL *e, const char *user_agent)
{
  size_t ua = strcspn(user_agent, "/ \t");
  static const char *const no[] = {"noai", "noindex", "noimageai", "noimageindex"};
  struct curl_header *hd;
  for (size_t k = 0;
       curl_easy_header(e, "X-Robots-Tag", k, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd; k++) {
    const char *v = hd->value;
    const char *colon = strchr(v, ':');
    if (colon) { /* "robot: directives": ours only */
      const char *name = v + strspn(v, " \t");
      size_t n = (size_t)(colon - name);
      while (n && (name[n - 1] == ' ' || name[n - 1] == '\t'))
        n--;
      if (!(n == 6 && strncasecmp(name, "evfarm", 6) == 0) &&
          !(n == ua && ua > 0 && strncasecmp(name, user_agent, n) == 0))
        continue;
      v = colon + 1;
    }
    while (*v) {
      v += strspn(v, " \t,");
      size_t n = strcspn(v, ",");
      size_t m = n;
      while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
        m--;
      for (size_t d = 0; d < sizeof no / sizeof no[0]; d++)
        if (m == strlen(no[d]) && strncasecmp(v, no[d], m) == 0)
          return 1;
      v += n;
    }
    if (hd->amount <= k + 1)
      break;
  }
  return 0;
}

static void robots_done(struct http_shared *h, struct http_slot *rs, CURLcode rc);
static void follow(struct http_shared *h, struct http_slot *hs, const char *url);

/* The request started for the host never went out: its next turn counts from now. */
static void host_end(struct http_slot *hs)
{
  if (hs->host_started) {
    hs->host_started = 0;
    evf_host_ended(hs->host);
  }
  if (hs->host_held) {
    hs->host_held = 0;
    evf_host_done(hs->host);
  }
  turn_end(hs);
}

static void transfer_done(struct http_shared *h, struct http_slot *hs, CURLcode rc)
{
  host_end(hs);
  if (hs->robots_fetch) {
    robots_done(h, hs, rc);
    return;
  }
  note_attempt(hs, rc);
  hs->complete = rc == CURLE_OK;
  curl_off_t retry_after = 0;
  curl_easy_getinfo(hs->easy, CURLINFO_RETRY_AFTER, &retry_after);
  double ra = (double)retry_after;
  /* A delay in seconds too large for curl's parser reads as 0 there (retry at once): the
   * server asked for a very long wait, so it is taken as such (past --retry-max-delay: the
   * task ends). */
  struct curl_header *hd = NULL;
  if (retry_after == 0 &&
      curl_easy_header(hs->easy, "Retry-After", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK &&
      hd && hd->value) {
    const char *v = hd->value + strspn(hd->value, " \t");
    size_t digits = strspn(v, "0123456789");
    if (digits > 0 && v[digits + strspn(v + digits, " \t")] == '\0')
      ra = strtod(v, NULL);
  }
  curl_multi_remove_handle(h->multi, hs->easy);
  struct http_ext *x = evf_task_ext(hs->task);
  long code = x->http_status;
  int completed = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && hs->truncated);
  char *next = NULL;
  if (completed && hs->follow && code >= 300 && code <= 399 &&
      curl_easy_getinfo(hs->easy, CURLINFO_REDIRECT_URL, &next) == CURLE_OK && next) {
    if (hs->redirs < h->opt->max_redirs) {
      follow(h, hs, next);
    } else { /* as curl says it */
      x->curl_code = CURLE_TOO_MANY_REDIRECTS;
      evf_task_io_end(hs->task, EVF_STATUS_ERROR, 0, 0);
    }
  } else if (completed && (code < 200 || code > 299)) {
    int transient = code == 429 || code >= 500;
    evf_task_io_end(hs->task, EVF_STATUS_HTTP_ERROR, transient,
                    code == 429 || code == 503 ? ra : 0);
  } else if (completed && !h->opt->ignore_opt_out && opted_out(hs->easy, h->opt->user_agent)) {
    evf_task_io_end(hs->task, EVF_STATUS_OPTED_OUT, 0, 0);
  } else if (completed) {
    evf_task_io_end(hs->task, EVF_STATUS_OK, 0, 0); /* cpu_run says truncated */
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    evf_task_io_end(hs->task, EVF_STATUS_TIMEOUT, 1, 0);
  } else if (transient_curl(rc)) {
    evf_task_io_end(hs->task, EVF_STATUS_IO_ERROR, 1, 0);
  } else {
    evf_task_io_end(hs->task, EVF_STATUS_ERROR, 0, 0);
  }
}

/* Every finished transfer: its handle leaves the multi before its task ends, because ending it
 * may start the slot's next task on the same handle. */
static void check_done(struct http_shared *h)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    struct http_slot *hs = NULL;
    CURLcode rc = m->data.result;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&hs);
    transfer_done(h, hs, rc);
  }
}

static int polite(const struct evf_options *opt);

static int slot_init(struct http_shared *h, struct http_slot *hs, struct evf_task *t)
{
  const struct evf_options *opt = h->opt;
  if (h->nslots == h->cap) {
    size_t cap = h->cap ? 2 * h->cap : 64;
    struct http_slot **s = realloc(h->slots, cap * sizeof *s);
    if (!s)
      return -1;
    h->slots = s;
    h->cap = cap;
  }
  CURL *e = curl_easy_init();
  if (!e)
    return -1;
  hs->easy = e;
  hs->task = t;
  h->slots[h->nslots++] = hs;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)hs);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, hs);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, hs);
  curl_easy_setopt(e, CURLOPT_USERAGENT, opt->user_agent);
  if (h->headers)
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
  if (opt->compressed)
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  if (opt->warc) { /* the bytes as they cross the wire, over HTTP/1.1 (HTTP/2's frames are not
                      an HTTP message a WARC reader can read) */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, hs);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
  }
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  /* Polite, redirects are followed here (follow()): each hop needs its host's robots.txt and
   * turn, which curl knows nothing of. */
  hs->follow = t && polite(opt) && opt->max_redirs > 0;
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, opt->max_redirs > 0 && !hs->follow ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)opt->max_redirs);
  if (opt->connect_timeout > 0)
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(opt->connect_timeout * 1000.0 + 0.5));
  return 0;
}

/* Start the slot's transfer now: curl takes it (and may queue it for a connection). */
static int transfer_start(struct http_shared *h, struct http_slot *hs)
{
  /* A turn at another rank's host, or a host other ranks take turns at: its connection is
   * closed when the transfer ends (one left open would count beside theirs). */
  curl_easy_setopt(hs->easy, CURLOPT_FORBID_REUSE,
                   hs->turn_granted || (hs->host && hs->host->cap) ? 1L : 0L);
  return curl_multi_add_handle(h->multi, hs->easy) == CURLM_OK ? EVF_STATUS_OK : EVF_STATUS_ERROR;
}

/* --- politeness: robots.txt and per-host turns (hosts.c) --------------------------------------- */

/* Per-host bookkeeping (hosts.c): robots.txt, a delay, or a per-host limit to count hosts by. */
static int polite(const struct evf_options *opt)
{
  return opt->robots == EVF_ROBOTS_OBEY || opt->host_delay > 0 || opt->host_delay_jitter > 0 ||
         opt->host_connections > 0;
}

/* The URL's path and query as sent ("/" when it has none), for robots.txt's rules. */
static const char *url_path(const char *url, char *buf, size_t cap)
{
  const char *sep = strstr(url, "://");
  const char *p = sep ? sep + 3 + strcspn(sep + 3, "/?#") : url;
  size_t n = strcspn(p, "#");
  snprintf(buf, cap, "%s%.*s", *p == '/' ? "" : "/", (int)n, p);
  return buf;
}

/* The record of an attempt refused before its hop's request: the redirects it followed and
 * their time on the wire, nothing else. */
static struct http_ext *refused(struct http_slot *hs)
{
  struct http_ext *x = evf_task_ext(hs->task);
  memset(x, 0, sizeof *x);
  x->redirects = hs->redirs;
  x->t_total = hs->wire_prev;
  evf_record_set_io_us(hs->task->rec, evf_clock_us(hs->wire_prev));
  return x;
}

/* A robots.txt decision for the hop's URL, once its host's robots.txt is known or failed:
 * EVF_STATUS_OK (may be fetched) or EVF_STATUS_ROBOTS_DISALLOWED, with *transient for a
 * robots.txt that could not be fetched (its status and curl code go into the record). */
static int robots_verdict(struct http_shared *h, struct http_slot *hs, int *transient)
{
  struct evf_host *host = hs->host;
  *transient = 0;
  if (h->opt->robots != EVF_ROBOTS_OBEY || !host)
    return EVF_STATUS_OK;
  if (host->robots == EVF_HOST_ROBOTS_FAILED) { /* no answer: as the page would have failed */
    struct http_ext *x = refused(hs);
    x->http_status = host->robots_http;
    x->curl_code = host->robots_curl;
    hs->robots_seen = host->robots_gen; /* a retry of this task fetches it again */
    *transient = 1;
    return host->robots_curl == CURLE_OPERATION_TIMEDOUT ? EVF_STATUS_TIMEOUT
           : host->robots_curl                         ? EVF_STATUS_IO_ERROR
                                                       : EVF_STATUS_ROBOTS_DISALLOWED;
  }
  char path[EVF_INPUT_MAX + 2];
  if (!host->rules || evf_robots_allowed(host->rules, url_path(hs->url, path, sizeof path)))
    return EVF_STATUS_OK;
  refused(hs);
  return EVF_STATUS_ROBOTS_DISALLOWED;
}

/* A host's turn came for `w` (hosts.c): a robots.txt fetch goes out; a task goes out, or ends
 * without a request when robots.txt says no.  Returns 1 when a request was started. */
static int remote_release(struct http_shared *h, struct remote_turn *rt);

static int host_release(struct evf_host_waiter *w, void *arg)
{
  struct http_shared *h = arg;
  if (w->remote)
    return remote_release(h, (struct remote_turn *)w);
  struct http_slot *hs = (struct http_slot *)w;
  if (!hs->robots_fetch) {
    int transient, v = robots_verdict(h, hs, &transient);
    if (v != EVF_STATUS_OK) {
      evf_task_io_end(hs->task, v, transient, 0);
      return 0;
    }
  }
  hs->host_started = 1;
  if (transfer_start(h, hs) != EVF_STATUS_OK) {
    hs->host_started = 0;
    if (hs->robots_fetch) /* as if unreachable */
      robots_done(h, hs, CURLE_OUT_OF_MEMORY);
    else
      evf_task_io_end(hs->task, EVF_STATUS_ERROR, 0, 0);
    return 0;
  }
  hs->host_held = 1;
  return 1;
}

/* A slot's state for a new attempt (a task's, or a robots.txt fetch of `host`): nothing
 * received, captured or begun yet, bodies kept up to `limit` bytes. */
static void attempt_reset(struct http_slot *hs, uint64_t limit, struct evf_host *host)
{
  hs->limit = limit;
  hs->len = 0;
  hs->truncated = hs->no_memory = 0;
  hs->begun_at = hs->setup = 0;
  hs->complete = 0;
  hs->nhops = 0;
  hs->capture_failed = 0;
  hs->host = host;
  hs->host_started = hs->host_held = 0;
  hs->redirs = 0;
  hs->wire_prev = 0;
}

/* Fetch `host`'s robots.txt ahead of every other request to it (its gate shut until then). */
static int robots_start(struct http_shared *h, struct evf_host *host)
{
  struct http_slot *rs = h->robots_free;
  if (rs) {
    h->robots_free = rs->next_free;
  } else {
    if (!(rs = calloc(1, sizeof *rs)))
      return -1;
    if (slot_init(h, rs, NULL)) {
      free(rs);
      return -1;
    }
    rs->robots_fetch = 1;
  }
  attempt_reset(rs, EVF_ROBOTS_MAX_BYTES, host);
  rs->wait.opens_gate = 1;
  char url[2100];
  snprintf(url, sizeof url, "%s/robots.txt", host->origin);
  curl_easy_setopt(rs->easy, CURLOPT_URL, url);
  curl_easy_setopt(rs->easy, CURLOPT_FOLLOWLOCATION, 1L); /* RFC 9309 2.3.1.2: five at least */
  curl_easy_setopt(rs->easy, CURLOPT_MAXREDIRS, 5L);
  /* --header's credentials to the hosts of the rank's URLs, not to one only a redirect reached */
  curl_easy_setopt(rs->easy, CURLOPT_HTTPHEADER, host->queued ? h->headers : h->headers_cross);
  if (h->opt->timeout > 0)
    curl_easy_setopt(rs->easy, CURLOPT_TIMEOUT_MS, (long)(h->opt->timeout * 1000.0 + 0.5));
  host->robots = EVF_HOST_ROBOTS_FETCHING;
  evf_host_gate(host, 1);
  evf_host_wait(host, &rs->wait); /* at the front; out in host_release() */
  return 0;
}

static int warc_keep(struct http_shared *h, struct http_slot *hs, uint32_t rank, struct evf_task *t,
                     struct evf_warc_loc *loc, char *msg);

/* A robots.txt fetch ended: its rules, or what its failure means (RFC 9309 2.3.1): a 2xx is
 * parsed; a 4xx but 429, or redirects past five, allow everything; a 5xx, a 429 or no answer
 * disallow everything until a later attempt fetches it again.  Its Crawl-delay (up to
 * EVF_CRAWL_DELAY_MAX) is a floor under --host-delay.  With --warc a whole response is kept. */
static void robots_done(struct http_shared *h, struct http_slot *rs, CURLcode rc)
{
  struct evf_host *host = rs->host;
  long code = 0;
  curl_easy_getinfo(rs->easy, CURLINFO_RESPONSE_CODE, &code);
  curl_multi_remove_handle(h->multi, rs->easy);
  int completed = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && rs->truncated);
  evf_robots_free(host->rules);
  host->rules = NULL;
  host->robots_gen++;
  h->robots_fetched++;
  if (completed && code >= 200 && code <= 299) {
    host->robots = EVF_HOST_ROBOTS_KNOWN;
    host->rules = evf_robots_parse(rs->body ? rs->body : "", rs->len, h->opt->user_agent);
    if (!host->rules) { /* out of memory: as if it could not be fetched */
      host->robots = EVF_HOST_ROBOTS_FAILED;
      host->robots_http = (int)code;
      host->robots_curl = CURLE_OUT_OF_MEMORY;
    } else {
      double cd = evf_robots_crawl_delay(host->rules);
      if (cd > EVF_CRAWL_DELAY_MAX)
        cd = EVF_CRAWL_DELAY_MAX;
      if (cd > host->delay)
        evf_host_set_delay(host, cd);
    }
  } else if (completed && ((code >= 400 && code <= 499 && code != 429) ||
                           (code >= 300 && code <= 399))) {
    host->robots = EVF_HOST_ROBOTS_KNOWN; /* unavailable: no rules */
  } else {
    host->robots = EVF_HOST_ROBOTS_FAILED;
    host->robots_http = (int)code;
    host->robots_curl = completed ? 0 : (int)rc;
  }
  if (host->robots == EVF_HOST_ROBOTS_FAILED)
    h->robots_failed++;
  if (h->opt->warc && completed && !h->warc_failed && h->any_task) {
    struct evf_warc_loc loc;
    char msg[EVF_ERRMSG_LEN];
    int wrc = warc_keep(h, rs, (uint32_t)h->any_task->rec->rank, h->any_task, &loc, msg);
    if (wrc) {
      h->warc_failed = 1;
      evf_task_fail(h->any_task, wrc, msg);
    }
  }
  rs->host = NULL;
  rs->next_free = h->robots_free;
  h->robots_free = rs;
  evf_host_gate(host, 0); /* the waiting tasks' turns */
}

/* Does this rank own the host name of `url` (0 when it has none: rank 0 says)? */
static int owns(struct http_shared *h, const char *url)
{
  char name[2048];
  int v;
  size_t n = evf_url_host_name(url, name, sizeof name);
  return n && evf_names_find(h->own, name, n, &v);
}

static void own(struct http_shared *h, const char *url)
{
  char name[2048];
  size_t n = evf_url_host_name(url, name, sizeof name);
  /* Out of memory, it is not noted: the next hop there asks again, and rank 0 answers alike. */
  if (n)
    (void)evf_names_put(h->own, name, n, 1);
}

/* The hop's host name is another rank's (or nobody's yet): ask rank 0 for its turn there. */
static int turn_ask(struct http_shared *h, struct http_slot *hs)
{
  if (++h->turn_seq == 0)
    h->turn_seq = 1;
  hs->turn_seq = h->turn_seq;
  hs->turn_prev = NULL;
  hs->turn_next = h->asking;
  if (h->asking)
    h->asking->turn_prev = hs;
  h->asking = hs;
  struct evf_turn m = {.type = EVF_TURN_ASK, .seq = hs->turn_seq, .url = hs->url,
                       .robots_gen = hs->robots_seen};
  evf_turn_send(h->loop, &m);
  return EVF_STATUS_OK;
}

static void turn_unlink(struct http_shared *h, struct http_slot *hs)
{
  if (hs->turn_prev)
    hs->turn_prev->turn_next = hs->turn_next;
  else
    h->asking = hs->turn_next;
  if (hs->turn_next)
    hs->turn_next->turn_prev = hs->turn_prev;
  hs->turn_prev = hs->turn_next = NULL;
  hs->turn_seq = 0;
  if (hs->turn_held) {
    hs->turn_held = 0;
    h->held--;
  }
}

/* Admit the slot's next request, to hs->url (its task's URL, or a redirect's when polite): the
 * robots.txt of its host first, then its host's turn (a redirect's hop at the front of the
 * queue: its task is under way).  EVF_STATUS_OK: started or waiting for its turn; else the
 * status the task ends with, never requested (*transient: a robots.txt that could not be
 * read). */
static int admit(struct http_shared *h, struct http_slot *hs, int hop, int *transient)
{
  const char *url = hs->url;
  *transient = 0;
  curl_easy_setopt(hs->easy, CURLOPT_URL, url);
  hs->host = NULL;
  if (!polite(h->opt))
    return transfer_start(h, hs);
  if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
    return transfer_start(h, hs); /* no host to be polite to: curl refuses the scheme */
  if (hop && h->turns && !owns(h, url))
    return turn_ask(h, hs);
  int oom;
  struct evf_host *host = evf_hosts_get(h->hosts, url, &oom);
  if (!host) /* no host to be polite to: curl says what is wrong with the URL */
    return oom ? EVF_STATUS_ERROR : transfer_start(h, hs);
  hs->host = host;
  hs->wait.opens_gate = 0;
  hs->wait.front = hop;
  if (h->opt->robots == EVF_ROBOTS_OBEY && host->robots != EVF_HOST_ROBOTS_KNOWN) {
    /* Fetched first, and fetched again by a retry of a task its last failure refused (after
     * that task's backoff); the verdict comes in host_release(). */
    if ((host->robots == EVF_HOST_ROBOTS_UNKNOWN ||
         (host->robots == EVF_HOST_ROBOTS_FAILED && hs->robots_seen == host->robots_gen)) &&
        robots_start(h, host))
      return EVF_STATUS_ERROR;
    evf_host_wait(host, &hs->wait);
    return EVF_STATUS_OK;
  }
  if (h->opt->robots == EVF_ROBOTS_OBEY) {
    int v = robots_verdict(h, hs, transient);
    if (v != EVF_STATUS_OK) /* the task ends here, never requested */
      return v;
  }
  if (evf_host_try(host)) {
    hs->host_started = hs->host_held = 1;
    int rc = transfer_start(h, hs);
    if (rc != EVF_STATUS_OK)
      host_end(hs);
    return rc;
  }
  evf_host_wait(host, &hs->wait); /* its turn comes in host_release() */
  return EVF_STATUS_OK;
}

static int http_io_start(struct evf_task *t)
{
  struct http_shared *h = evf_task_shared(t);
  struct http_slot *hs = evf_task_state(t);
  if (!hs->easy && slot_init(h, hs, t))
    return EVF_STATUS_ERROR;
  attempt_reset(hs, h->opt->max_body, NULL);
  h->any_task = t;
  hs->url = evf_task_input(t);
  if (hs->cross) { /* the last attempt ended at another origin */
    curl_easy_setopt(hs->easy, CURLOPT_HTTPHEADER, h->headers);
    hs->cross = 0;
  }
  hs->home = NULL;
  if (polite(h->opt) && (strncasecmp(hs->url, "http://", 7) == 0 ||
                         strncasecmp(hs->url, "https://", 8) == 0)) {
    int oom;
    if ((hs->home = evf_hosts_get(h->hosts, hs->url, &oom)) && t->rec->attempts <= 1) {
      evf_host_tasks(hs->home, 0, 1, 0);
      hs->robots_seen = 0;
    }
  }
  int transient, rc = admit(h, hs, 0, &transient);
  if (rc != EVF_STATUS_OK && hs->home)
    evf_host_tasks(hs->home, 0, 0, 1);
  return rc;
}

/* A redirect to `url` (polite): the attempt goes on with a request there, admitted as a task's
 * first is (that origin's robots.txt and turn), its deadline stopped while it waits.  The
 * credentials of --header go to the task's own origin only. */
static void follow(struct http_shared *h, struct http_slot *hs, const char *url)
{
  struct http_ext *x = evf_task_ext(hs->task);
  hs->redirs++;
  hs->wire_prev = x->t_total;
  hs->next_url.len = 0;
  if (bytes_add(&hs->next_url, url, strlen(url))) {
    hs->no_memory = 1;
    evf_task_io_end(hs->task, EVF_STATUS_ERROR, 0, 0);
    return;
  }
  hs->url = hs->next_url.p;
  char a[2048], b[2048];
  size_t la = evf_url_origin(evf_task_input(hs->task), a, sizeof a);
  int cross = !la || evf_url_origin(hs->url, b, sizeof b) != la || strcmp(a, b) != 0;
  if (cross != hs->cross) {
    curl_easy_setopt(hs->easy, CURLOPT_HTTPHEADER, cross ? h->headers_cross : h->headers);
    hs->cross = cross;
  }
  hs->len = 0; /* the redirect's own body is not the page's */
  hs->truncated = hs->no_memory = 0;
  hs->begun_at = hs->setup = 0;
  hs->complete = 0;
  hs->host_started = 0;
  evf_task_io_wait(hs->task);
  int transient, rc = admit(h, hs, 1, &transient);
  if (rc != EVF_STATUS_OK)
    evf_task_io_end(hs->task, rc, transient, 0);
}

/* --- turns at other ranks' hosts (task.h) ----------------------------------------------------- */

/* The answer to a turn this rank asked. */
static void turn_answer(struct http_shared *h, const struct evf_turn *m)
{
  struct http_slot *hs = h->asking;
  while (hs && hs->turn_seq != m->seq)
    hs = hs->turn_next;
  if (!hs) { /* its task was cancelled meanwhile: a granted turn ends unused */
    if (m->value == EVF_TURN_GRANT) {
      struct evf_turn n = {.type = EVF_TURN_NOTE, .owner = m->owner, .seq = m->seq,
                           .ticket = m->ticket, .value = EVF_TURN_UNSENT};
      evf_turn_send(h->loop, &n);
    }
    return;
  }
  if (m->value == EVF_TURN_HELD) { /* the answer comes later */
    if (!hs->turn_held) {
      hs->turn_held = 1;
      h->held++;
    }
    return;
  }
  turn_unlink(h, hs);
  int transient = 0, rc;
  struct http_ext *x;
  switch (m->value) {
  case EVF_TURN_YOURS: /* nobody's: this rank's from now on, admitted here */
    own(h, hs->url);
    rc = admit(h, hs, 1, &transient);
    break;
  case EVF_TURN_GRANT:
    hs->turn_granted = 1;
    hs->turn_begun = 0;
    hs->turn_owner = m->owner;
    hs->turn_gseq = m->seq;
    hs->turn_ticket = m->ticket;
    rc = transfer_start(h, hs);
    if (rc != EVF_STATUS_OK)
      turn_end(hs);
    break;
  case EVF_TURN_DISALLOWED:
    refused(hs);
    rc = EVF_STATUS_ROBOTS_DISALLOWED;
    break;
  case EVF_TURN_NO_ROBOTS: /* as robots_verdict() says a failed robots.txt */
    x = refused(hs);
    x->http_status = m->robots_http;
    x->curl_code = m->robots_curl;
    hs->robots_seen = m->robots_gen; /* a retry of this task has the owner fetch it again */
    transient = 1;
    rc = m->robots_curl == CURLE_OPERATION_TIMEDOUT ? EVF_STATUS_TIMEOUT
         : m->robots_curl                           ? EVF_STATUS_IO_ERROR
                                                    : EVF_STATUS_ROBOTS_DISALLOWED;
    break;
  default: /* GONE: the owner's loop ended (a drain): as a host that cannot be reached */
    refused(hs);
    transient = 1;
    rc = EVF_STATUS_IO_ERROR;
    break;
  }
  if (rc != EVF_STATUS_OK)
    evf_task_io_end(hs->task, rc, transient, 0);
}

static void remote_answer(struct http_shared *h, struct remote_turn *rt, int value)
{
  struct evf_turn a = {.type = EVF_TURN_ANSWER, .requester = rt->requester, .seq = rt->seq,
                       .ticket = rt->ticket, .value = value};
  if (value == EVF_TURN_NO_ROBOTS) {
    a.robots_http = rt->wait.host->robots_http;
    a.robots_curl = rt->wait.host->robots_curl;
    a.robots_gen = rt->wait.host->robots_gen;
  }
  evf_turn_send(h->loop, &a);
}

static void remote_free(struct http_shared *h, struct remote_turn *rt)
{
  evf_host_unwait(&rt->wait);
  free(rt->url);
  rt->url = NULL;
  rt->live = 0;
  rt->next_free = h->rts_free;
  h->rts_free = rt;
  h->owed--;
}

/* What the host's robots.txt says of another rank's turn: 0 (go), or the answer that ends it. */
static int remote_verdict(struct http_shared *h, struct remote_turn *rt)
{
  struct evf_host *host = rt->wait.host;
  if (h->opt->robots != EVF_ROBOTS_OBEY)
    return 0;
  if (host->robots == EVF_HOST_ROBOTS_FAILED)
    return EVF_TURN_NO_ROBOTS;
  char path[EVF_INPUT_MAX + 2];
  if (host->rules && !evf_robots_allowed(host->rules, url_path(rt->url, path, sizeof path)))
    return EVF_TURN_DISALLOWED;
  return 0;
}

/* Another rank's turn has come at its host: granted (the request counts here until its
 * requester's last note), or refused by robots.txt. */
static int remote_release(struct http_shared *h, struct remote_turn *rt)
{
  int v = remote_verdict(h, rt);
  if (v) {
    remote_answer(h, rt, v);
    remote_free(h, rt);
    return 0;
  }
  remote_answer(h, rt, EVF_TURN_GRANT);
  return 1;
}

/* Another rank asks for a turn at a host of this rank's: admitted as a redirect's hop is here
 * (robots.txt first, then the host's turn, at the front), with its host's connections counting
 * the other ranks' too from now on. */
static void remote_ask(struct http_shared *h, const struct evf_turn *m)
{
  struct remote_turn *rt = h->rts_free;
  uint32_t ticket;
  if (rt) {
    h->rts_free = rt->next_free;
    ticket = rt->ticket;
  } else {
    if (h->nrts == h->caprts) {
      size_t cap = h->caprts ? 2 * h->caprts : 16;
      struct remote_turn **n = realloc(h->rts, cap * sizeof *n);
      if (n) {
        h->rts = n;
        h->caprts = cap;
      }
    }
    if (h->nrts == h->caprts || !(rt = calloc(1, sizeof *rt))) {
      struct evf_turn a = {.type = EVF_TURN_ANSWER, .requester = m->requester, .seq = m->seq,
                           .value = EVF_TURN_GONE};
      evf_turn_send(h->loop, &a);
      return;
    }
    h->rts[h->nrts++] = rt;
    ticket = (uint32_t)h->nrts;
  }
  memset(rt, 0, sizeof *rt);
  rt->requester = m->requester;
  rt->seq = m->seq;
  rt->ticket = ticket;
  rt->live = 1;
  h->owed++;
  int oom = 0;
  struct evf_host *host = NULL;
  if (!m->url || !(rt->url = strdup(m->url)) || !(host = evf_hosts_get(h->hosts, rt->url, &oom))) {
    struct evf_turn a = {.type = EVF_TURN_ANSWER, .requester = m->requester, .seq = m->seq,
                         .value = EVF_TURN_GONE};
    evf_turn_send(h->loop, &a);
    remote_free(h, rt);
    return;
  }
  rt->wait.host = host;
  rt->wait.remote = 1;
  rt->wait.front = 1;
  if (h->opt->host_connections > 0)
    host->cap = h->opt->host_connections;
  /* robots.txt first, as admit() has it for this rank's own tasks: fetched once, and a failed
   * one fetched again only by a retry of a task that failure refused (else the failure's
   * verdict below, NO_ROBOTS). */
  if (h->opt->robots == EVF_ROBOTS_OBEY &&
      (host->robots == EVF_HOST_ROBOTS_UNKNOWN || host->robots == EVF_HOST_ROBOTS_FETCHING ||
       (host->robots == EVF_HOST_ROBOTS_FAILED && m->robots_gen == host->robots_gen))) {
    if (host->robots != EVF_HOST_ROBOTS_FETCHING && robots_start(h, host)) {
      remote_answer(h, rt, EVF_TURN_GONE);
      remote_free(h, rt);
      return;
    }
    evf_host_wait(host, &rt->wait); /* its turn after the fetch, in remote_release() */
    return;
  }
  int v = remote_verdict(h, rt);
  if (v) {
    remote_answer(h, rt, v);
    remote_free(h, rt);
  } else if (evf_host_try(host)) {
    remote_answer(h, rt, EVF_TURN_GRANT);
  } else {
    evf_host_wait(host, &rt->wait);
  }
}

/* The requester's note on a turn granted here. */
static void remote_note(struct http_shared *h, const struct evf_turn *m)
{
  struct remote_turn *rt = m->ticket >= 1 && m->ticket <= h->nrts ? h->rts[m->ticket - 1] : NULL;
  if (!rt || !rt->live || rt->requester != m->requester || rt->seq != m->seq)
    return; /* not this rank's: nothing to count */
  struct evf_host *host = rt->wait.host;
  if (m->value == EVF_TURN_BEGUN) {
    rt->begun = 1;
    evf_host_begun(host);
    return;
  }
  if (!rt->begun)
    evf_host_ended(host);
  evf_host_done(host);
  remote_free(h, rt);
}

static void http_turn(void *shared, const struct evf_turn *m)
{
  struct http_shared *h = shared;
  if (m->type == EVF_TURN_ANSWER)
    turn_answer(h, m);
  else if (m->type == EVF_TURN_ASK && h->hosts)
    remote_ask(h, m);
  else if (m->type == EVF_TURN_NOTE && h->hosts)
    remote_note(h, m);
}

static uint64_t http_owed(void *shared)
{
  const struct http_shared *h = shared;
  return h->owed;
}

static uint64_t http_held(void *shared)
{
  const struct http_shared *h = shared;
  return h->held;
}

static void http_cancel(struct evf_task *t)
{
  struct http_shared *h = evf_task_shared(t);
  struct http_slot *hs = evf_task_state(t);
  if (hs->wait.queued) { /* waiting for its host's turn: nothing went out (but its redirects) */
    evf_host_unwait(&hs->wait);
    refused(hs);
    return;
  }
  if (hs->turn_seq) { /* waiting for a turn at another rank: its answer finds no slot */
    turn_unlink(h, hs);
    refused(hs);
    return;
  }
  host_end(hs);
  note_attempt(hs, CURLE_OK); /* its time on the wire: to its deadline (or a drain's end) */
  curl_multi_remove_handle(h->multi, hs->easy);
}

/* The CPU phase: lines, links and the hash of the body. */
static int http_cpu_run(struct evf_task *t)
{
  struct http_slot *hs = evf_task_state(t);
  struct http_ext *x = evf_task_ext(t);
  const char *b = hs->body ? hs->body : "", *end = b + hs->len;
  uint32_t lines = 0, links = 0;
  for (const char *p = b; (p = memchr(p, '\n', (size_t)(end - p))); p++)
    lines++;
  for (const char *p = b; (p = memchr(p, '=', (size_t)(end - p))); p++)
    if (p - b >= 4 && (p[-4] | 0x20) == 'h' && (p[-3] | 0x20) == 'r' && (p[-2] | 0x20) == 'e' &&
        (p[-1] | 0x20) == 'f')
      links++;
  x->lines = lines;
  x->links = links;
  x->bytes = hs->len;
  x->hash = XXH3_64bits(b, hs->len);
  t->rec->value = x->hash;
  if (hs->no_memory)
    return EVF_STATUS_ERROR;
  return hs->truncated ? EVF_STATUS_TRUNCATED : EVF_STATUS_OK;
}

/* --- --warc ----------------------------------------------------------------------------------- */

static void sync_cb(void *t)
{
  evf_task_sync(t);
}

/* The slot's last attempt's hops into the rank's WARC file (opened at the first): 0 with *loc
 * set, or an EVF_E* code with msg set.  `t` syncs the journal when a file closes. */
static int warc_keep(struct http_shared *h, struct http_slot *hs, uint32_t rank, struct evf_task *t,
                     struct evf_warc_loc *loc, char *msg)
{
  int rc = 0;
  if (hs->capture_failed)
    rc = evf_seterr(msg, EVF_ENOMEM, "--warc: out of memory for a response");
  if (rc == 0 && !h->warc)
    h->warc = evf_warc_open(h->opt->warc, rank, h->opt->warc_size, h->warc_info, &rc, msg);
  struct evf_warc_hop *hops = rc ? NULL : malloc(hs->nhops * sizeof *hops);
  if (rc == 0 && !hops)
    rc = evf_seterr(msg, EVF_ENOMEM, "--warc: out of memory");
  if (rc == 0) {
    for (size_t k = 0; k < hs->nhops; k++) {
      const struct http_hop *p = &hs->hops[k];
      hops[k] = (struct evf_warc_hop){p->url.p, p->ip, p->date, p->req.p, p->req.len,
                                      p->resp.p, p->resp.len};
    }
    rc = evf_warc_write(h->warc, hops, hs->nhops, sync_cb, t, loc, msg);
  }
  free(hops);
  return rc;
}

/* The task's status is final: with --warc, its last attempt's hops go into the rank's WARC file
 * when it got a whole response (any HTTP status; not one it opted out of). */
static int http_keep(struct evf_task *t, int status)
{
  struct http_shared *h = evf_task_shared(t);
  struct http_slot *hs = evf_task_state(t);
  struct http_ext *x = evf_task_ext(t);
  x->warc_seq = 0;
  x->warc_offset = x->warc_length = 0;
  if (hs->home) /* its final record: one task of the host more has ended */
    evf_host_tasks(hs->home, 0, 0, 1);
  if (!h->opt->warc || !hs->complete || hs->nhops == 0 ||
      (status != EVF_STATUS_OK && status != EVF_STATUS_HTTP_ERROR))
    return status;
  char msg[EVF_ERRMSG_LEN];
  if (h->warc_failed)
    return EVF_STATUS_NOT_RUN;
  struct evf_warc_loc loc;
  int rc = warc_keep(h, hs, (uint32_t)t->rec->rank, t, &loc, msg);
  if (rc) { /* the rank stops; this task is left for --resume */
    h->warc_failed = 1;
    evf_task_fail(t, rc, msg);
    return EVF_STATUS_NOT_RUN;
  }
  x->warc_seq = loc.seq;
  x->warc_offset = loc.offset;
  x->warc_length = loc.length;
  return status;
}

enum { FIG_FILES, FIG_BYTES, FIG_FETCHES, FIG_RECORDS, FIG_HOSTS, FIG_ROBOTS, FIG_ROBOTS_FAILED };

static int http_finish(void *shared, uint64_t *fig, char *msg)
{
  struct http_shared *h = shared;
  struct evf_warc_figures f;
  int rc = evf_warc_close(h->warc, &f, msg);
  h->warc = NULL;
  fig[FIG_FILES] = f.files;
  fig[FIG_BYTES] = f.bytes;
  fig[FIG_FETCHES] = f.fetches;
  fig[FIG_RECORDS] = f.records;
  fig[FIG_HOSTS] = h->hosts ? evf_hosts_count(h->hosts) : 0;
  fig[FIG_ROBOTS] = h->robots_fetched;
  fig[FIG_ROBOTS_FAILED] = h->robots_failed;
  return rc;
}

/* Progress by host: every task the rank receives counts for its host. */
static void http_queued(void *shared, const char *input)
{
  struct http_shared *h = shared;
  if (!h->hosts || (strncasecmp(input, "http://", 7) != 0 && strncasecmp(input, "https://", 8) != 0))
    return;
  int oom;
  struct evf_host *host = evf_hosts_get(h->hosts, input, &oom);
  if (host)
    evf_host_tasks(host, 1, 0, 0);
  if (h->turns)
    own(h, input);
}

static void http_groups(void *shared, uint64_t *done, uint64_t *active)
{
  struct http_shared *h = shared;
  *done = *active = 0;
  if (h->hosts)
    evf_hosts_progress(h->hosts, done, active);
}

/* The politeness bound: a host's requests, at least its delay apart. */
static double http_bound(void *shared, char *what, size_t cap)
{
  struct http_shared *h = shared;
  const struct evf_host *host = NULL;
  double t = h->hosts ? evf_hosts_bound(h->hosts, &host) : 0;
  if (host)
    snprintf(what, cap, "%s, %llu requests %g s apart", host->origin,
             (unsigned long long)host->requests, host->delay);
  return t;
}

static void http_summary_text(FILE *out, const struct evf_options *opt, const uint64_t *fig)
{
  if (polite(opt))
    fprintf(out, "  hosts         %llu; robots.txt %s: %llu fetched, %llu not available (5xx, 429, "
                 "no answer); --host-delay %g s (+ %g s jitter)\n",
            (unsigned long long)fig[FIG_HOSTS],
            opt->robots == EVF_ROBOTS_OBEY ? "obeyed" : "ignored",
            (unsigned long long)fig[FIG_ROBOTS], (unsigned long long)fig[FIG_ROBOTS_FAILED],
            opt->host_delay, opt->host_delay_jitter);
  if (!opt->warc)
    return;
  fprintf(out, "  warc          %llu responses kept in %llu file%s, %.1f MB (%llu records) in %s\n",
          (unsigned long long)fig[FIG_FETCHES], (unsigned long long)fig[FIG_FILES],
          fig[FIG_FILES] == 1 ? "" : "s", (double)fig[FIG_BYTES] / 1e6,
          (unsigned long long)fig[FIG_RECORDS], evf_clip(opt->warc));
}

static void http_summary_json(FILE *out, const struct evf_options *opt, const uint64_t *fig)
{
  if (polite(opt))
    fprintf(out, ",\n  \"hosts\": %llu,\n  \"robots\": {\"fetched\": %llu, \"failed\": %llu}",
            (unsigned long long)fig[FIG_HOSTS], (unsigned long long)fig[FIG_ROBOTS],
            (unsigned long long)fig[FIG_ROBOTS_FAILED]);
  if (!opt->warc)
    return;
  fprintf(out, ",\n  \"warc\": {\"dir\": ");
  evf_json_string(out, opt->warc);
  fprintf(out, ", \"files\": %llu, \"bytes\": %llu, \"fetches\": %llu, \"records\": %llu}",
          (unsigned long long)fig[FIG_FILES], (unsigned long long)fig[FIG_BYTES],
          (unsigned long long)fig[FIG_FETCHES], (unsigned long long)fig[FIG_RECORDS]);
}

/* --resume: the end of the last response each WARC file holds that the journal knows of. */
struct warc_ends {
  uint64_t *key, *end; /* open addressing: key rank << 32 | seq, + 1 (0: empty) */
  size_t cap, n;
};

static int ends_put(struct warc_ends *e, uint64_t key, uint64_t end)
{
  if (2 * (e->n + 1) > e->cap) {
    size_t cap = e->cap ? 2 * e->cap : 64;
    uint64_t *k = calloc(cap, sizeof *k), *v = calloc(cap, sizeof *v);
    if (!k || !v) {
      free(k);
      free(v);
      return -1;
    }
    for (size_t i = 0; i < e->cap; i++)
      if (e->key[i])
        for (size_t h = (size_t)(e->key[i] * 0x9e3779b97f4a7c15ull) & (cap - 1);; h = (h + 1) & (cap - 1))
          if (!k[h]) {
            k[h] = e->key[i];
            v[h] = e->end[i];
            break;
          }
    free(e->key);
    free(e->end);
    e->key = k;
    e->end = v;
    e->cap = cap;
  }
  key++;
  for (size_t h = (size_t)(key * 0x9e3779b97f4a7c15ull) & (e->cap - 1);; h = (h + 1) & (e->cap - 1)) {
    if (e->key[h] == key) {
      if (end > e->end[h])
        e->end[h] = end;
      return 0;
    }
    if (!e->key[h]) {
      e->key[h] = key;
      e->end[h] = end;
      e->n++;
      return 0;
    }
  }
}

static uint64_t ends_get(const struct warc_ends *e, uint64_t key)
{
  key++;
  if (!e->cap)
    return 0;
  for (size_t h = (size_t)(key * 0x9e3779b97f4a7c15ull) & (e->cap - 1);; h = (h + 1) & (e->cap - 1)) {
    if (e->key[h] == key)
      return e->end[h];
    if (!e->key[h])
      return 0;
  }
}

/* Every WARC file an earlier run left open (killed) is cut after the last response a journaled
 * record points at: what lies past it belongs to tasks that run again (stored once, by this
 * run), or is a record torn mid-write.  Only files this journal's runs wrote are touched: one a
 * journaled record points at, or whose warcinfo names this journal. */
static int http_resume(const struct evf_options *opt, void **ctx, const struct evf_record *rec,
                       FILE *err, char *msg)
{
  struct warc_ends *e = *ctx;
  if (!opt->warc)
    return 0;
  if (!e && !(e = *ctx = calloc(1, sizeof *e)))
    return evf_seterr(msg, EVF_ENOMEM, "--warc: out of memory");
  if (rec) {
    const struct http_ext *x = evf_record_ext(rec);
    if (x->warc_length && ends_put(e, (uint64_t)(uint32_t)rec->rank << 32 | x->warc_seq,
                                   x->warc_offset + x->warc_length))
      return evf_seterr(msg, EVF_ENOMEM, "--warc: out of memory");
    return 0;
  }
  int rc = 0;
  DIR *d = opendir(opt->warc);
  if (!d)
    rc = evf_seterr(msg, EVF_EUSAGE, "--warc: cannot read '%s': %s", evf_clip(opt->warc),
                    strerror(errno));
  struct dirent *de;
  char mine[4096] = "";
  if (opt->journal && !realpath(opt->journal, mine))
    mine[0] = '\0';
  while (rc == 0 && (de = readdir(d))) {
    uint32_t rank, seq;
    int open;
    if (!evf_warc_parse_name(de->d_name, &rank, &seq, &open) || !open)
      continue;
    char path[8192], theirs[4096];
    snprintf(path, sizeof path, "%s/%s", opt->warc, de->d_name);
    uint64_t keep = ends_get(e, (uint64_t)rank << 32 | seq), cut = 0;
    if (keep == 0 && !(mine[0] && evf_warc_info_field(path, "evfarm-journal", theirs,
                                                      sizeof theirs) &&
                       strcmp(theirs, mine) == 0))
      continue; /* another job's file, or one this journal knows nothing of */
    rc = evf_warc_recover(path, keep, &cut, msg);
    if (rc == 0 && cut)
      evf_errorf(err, "--warc: '%s': %llu bytes past the last response the journal holds cut "
                      "(a run that ended mid-fetch); those tasks run again%s",
                 evf_clip(path), (unsigned long long)cut, keep ? "" : " (the file is removed)");
  }
  if (d)
    closedir(d);
  free(e->key);
  free(e->end);
  free(e);
  *ctx = NULL;
  return rc;
}

/* The warcinfo record's fields past those warc.c writes: what this crawl was. */
static char *warc_info(const struct evf_options *opt)
{
  struct bytes b = {0};
  char line[8192];
  const char *job = getenv("SLURM_JOB_ID");
  snprintf(line, sizeof line, "http-header-user-agent: %s\r\n", opt->user_agent);
  int rc = bytes_add(&b, line, strlen(line));
  for (uint32_t k = 0; rc == 0 && k < opt->headers.n; k++) {
    snprintf(line, sizeof line, "http-header: %s\r\n", opt->headers.v[k]);
    rc = bytes_add(&b, line, strlen(line));
  }
  snprintf(line, sizeof line,
           "evfarm-options: --urls %s --max-redirs %u --max-body %llu --timeout %g --retries %u%s%s"
           "\r\n",
           opt->urls ? opt->urls : "", (unsigned)opt->max_redirs,
           (unsigned long long)opt->max_body, opt->timeout, (unsigned)opt->retries,
           opt->compressed ? " --compressed" : "", opt->ignore_opt_out ? " --ignore-opt-out" : "");
  if (rc == 0)
    rc = bytes_add(&b, line, strlen(line));
  char jpath[4096];
  if (rc == 0 && opt->journal && realpath(opt->journal, jpath)) { /* --resume's repair */
    snprintf(line, sizeof line, "evfarm-journal: %s\r\n", jpath);
    rc = bytes_add(&b, line, strlen(line));
  }
  if (rc == 0 && job && *job) {
    snprintf(line, sizeof line, "slurm-job-id: %s\r\n", job);
    rc = bytes_add(&b, line, strlen(line));
  }
  if (rc) {
    free(b.p);
    return NULL;
  }
  return b.p ? b.p : strdup("");
}

/* --- per rank -------------------------------------------------------------------------------- */

static void http_close(void *shared)
{
  struct http_shared *h = shared;
  if (!h)
    return;
  evf_hosts_free(h->hosts);
  for (size_t i = 0; i < h->nrts; i++) {
    free(h->rts[i]->url);
    free(h->rts[i]);
  }
  free(h->rts);
  evf_names_free(h->own);
  for (size_t i = 0; i < h->nslots; i++)
    curl_multi_remove_handle(h->multi, h->slots[i]->easy);
  if (h->multi)
    curl_multi_cleanup(h->multi);
  for (size_t i = 0; i < h->nslots; i++) {
    curl_easy_cleanup(h->slots[i]->easy);
    free(h->slots[i]->body);
    free(h->slots[i]->next_url.p);
    h->slots[i]->easy = NULL;
    h->slots[i]->body = NULL;
    h->slots[i]->next_url = (struct bytes){0};
    for (size_t k = 0; k < h->slots[i]->cap_hops; k++) {
      free(h->slots[i]->hops[k].url.p);
      free(h->slots[i]->hops[k].req.p);
      free(h->slots[i]->hops[k].resp.p);
    }
    free(h->slots[i]->hops);
    h->slots[i]->hops = NULL;
    h->slots[i]->nhops = h->slots[i]->cap_hops = 0;
    if (h->slots[i]->robots_fetch) /* ours, not the runner's */
      free(h->slots[i]);
  }
  if (h->warc) { /* a run that failed: what was kept stays valid */
    struct evf_warc_figures f;
    char msg[EVF_ERRMSG_LEN];
    evf_warc_close(h->warc, &f, msg);
  }
  curl_slist_free_all(h->headers);
  curl_slist_free_all(h->headers_cross);
  free(h->warc_info);
  while (h->socks)
    sock_free(h, h->socks);
  ev_timer_stop(h->loop, &h->timer);
  free(h->slots);
  free(h);
}

static int http_open(struct ev_loop *loop, const struct evf_options *opt, uint64_t nslots,
                     void **shared, char *msg)
{
  /* Open files for `nslots` transfers: a socket each, as many idle connections in curl's
   * cache, and some to spare (the resolver, MPI, the output). */
  int rc = evf_task_reserve_files(2 * nslots + 64, nslots, "transfers", msg);
  if (rc)
    return rc;
  if (!curl_ready())
    return evf_seterr(msg, EVF_ENOMEM, "cannot initialise libcurl");
  if (opt->warc && (rc = evf_dir_writable("warc", opt->warc, msg)))
    return rc;
  struct http_shared *h = calloc(1, sizeof *h);
  if (!h || !(h->multi = curl_multi_init())) {
    free(h);
    return evf_seterr(msg, EVF_ENOMEM, "cannot create a curl multi handle");
  }
  for (uint32_t k = 0; k < opt->headers.n; k++) {
    const char *v = opt->headers.v[k];
    struct curl_slist *l = curl_slist_append(h->headers, v);
    int ok = l != NULL;
    if (l)
      h->headers = l;
    if (ok && strncasecmp(v, "Authorization:", 14) != 0 && strncasecmp(v, "Cookie:", 7) != 0) {
      l = curl_slist_append(h->headers_cross, v);
      ok = l != NULL;
      if (l)
        h->headers_cross = l;
    }
    if (!ok) {
      curl_slist_free_all(h->headers);
      curl_slist_free_all(h->headers_cross);
      curl_multi_cleanup(h->multi);
      free(h);
      return evf_seterr(msg, EVF_ENOMEM, "out of memory");
    }
  }
  if (opt->warc && !(h->warc_info = warc_info(opt))) {
    curl_slist_free_all(h->headers);
    curl_slist_free_all(h->headers_cross);
    curl_multi_cleanup(h->multi);
    free(h);
    return evf_seterr(msg, EVF_ENOMEM, "out of memory");
  }
  h->loop = loop;
  h->opt = opt;
  if (polite(opt) &&
      !(h->hosts = evf_hosts_new(loop, opt->host_delay, opt->host_delay_jitter, opt->seed,
                                 host_release, h))) {
    curl_slist_free_all(h->headers);
    curl_slist_free_all(h->headers_cross);
    free(h->warc_info);
    curl_multi_cleanup(h->multi);
    free(h);
    return evf_seterr(msg, EVF_ENOMEM, "out of memory");
  }
  if (h->hosts && evf_turn_on(loop)) {
    if (!(h->own = evf_names_new())) {
      http_close(h);
      return evf_seterr(msg, EVF_ENOMEM, "out of memory");
    }
    h->turns = 1;
  }
  ev_init(&h->timer, timer_cb_ev);
  h->timer.data = h;
  long n = nslots > 1000000 ? 1000000L : (long)nslots;
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)opt->host_connections);
  curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n);
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, n);
  *shared = h;
  return 0;
}

/* --- output ------------------------------------------------------------------------------------ */

static void http_write_ext(FILE *fp, enum evf_format fmt, const struct evf_record *rec)
{
  const struct http_ext *x = evf_record_ext(rec);
  const char *err = x->curl_code ? curl_easy_strerror((CURLcode)x->curl_code) : "";
  char file[64] = ""; /* the WARC file of its response, by the rank that kept it */
  if (x->warc_length)
    evf_warc_file_name(file, sizeof file, (uint32_t)rec->rank, x->warc_seq);
  if (fmt == EVF_FORMAT_JSONL) {
    fprintf(fp,
            ",\"http_status\":%d,\"bytes\":%llu,\"lines\":%u,\"links\":%u,\"hash\":\"%016llx\""
            ",\"t_dns\":%.6f,\"t_connect\":%.6f,\"t_first_byte\":%.6f,\"t_total\":%.6f"
            ",\"redirects\":%u,\"curl_code\":%d,\"curl_error\":",
            (int)x->http_status, (unsigned long long)x->bytes, (unsigned)x->lines,
            (unsigned)x->links, (unsigned long long)x->hash, x->t_dns, x->t_connect,
            x->t_first_byte, x->t_total, (unsigned)x->redirects, (int)x->curl_code);
    evf_json_string(fp, err);
    fprintf(fp, ",\"warc_file\":\"%s\",\"warc_offset\":%llu,\"warc_length\":%llu", file,
            (unsigned long long)x->warc_offset, (unsigned long long)x->warc_length);
  } else {
    fprintf(fp, ",%d,%llu,%u,%u,%016llx,%.6f,%.6f,%.6f,%.6f,%u,%d,", (int)x->http_status,
            (unsigned long long)x->bytes, (unsigned)x->lines, (unsigned)x->links,
            (unsigned long long)x->hash, x->t_dns, x->t_connect, x->t_first_byte, x->t_total,
            (unsigned)x->redirects, (int)x->curl_code);
    evf_csv_field(fp, err);
    fprintf(fp, ",%s,%llu,%llu", file, (unsigned long long)x->warc_offset,
            (unsigned long long)x->warc_length);
  }
}

/* Host-affine plans: with a limit per host (--host-connections, --host-delay), every URL of a
 * host goes to one rank, so the limit holds for the whole job there.  The plan groups by host
 * name, so a host's origins on other schemes and ports (http and https of one name) share a
 * rank too, and a redirect between them (the commonest there is) is spaced and counted with
 * that origin's own requests. */
static int http_grouped(const struct evf_options *opt)
{
  return opt->host_connections > 0 || opt->host_delay > 0 || opt->host_delay_jitter > 0;
}

static size_t http_group_key(const char *input, char *buf, size_t cap)
{
  return evf_url_host_name(input, buf, cap);
}

const struct evf_task_kind evf_task_kind_http = {
  .name = "http",
  .state_size = sizeof(struct http_slot),
  .ext_size = sizeof(struct http_ext),
  .deadline_on_begun = 1,
  .input_option = "urls",
  .input_column = "url",
  .input_check = http_input_check,
  .grouped = http_grouped,
  .group_key = http_group_key,
  .queued = http_queued,
  .groups = http_groups,
  .group_name = "hosts",
  .open = http_open,
  .close = http_close,
  .io_start = http_io_start,
  .cancel = http_cancel,
  .cpu_run = http_cpu_run,
  .csv_header = ",http_status,bytes,lines,links,hash,t_dns,t_connect,t_first_byte,t_total,"
                "redirects,curl_code,curl_error,warc_file,warc_offset,warc_length",
  .write_ext = http_write_ext,
  .keep = http_keep,
  .resume = http_resume,
  .finish = http_finish,
  .bound = http_bound,
  .summary_text = http_summary_text,
  .summary_json = http_summary_json,
  .turn = http_turn,
  .owed = http_owed,
  .held = http_held,
};
