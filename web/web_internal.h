/*  web_internal -- what web.c (HTTP, the loop) and api.c (the console's
    /api/ paths) share. Not for other rooms. */
#ifndef LH_WEB_INTERNAL_H_INCLUDED
#define LH_WEB_INTERNAL_H_INCLUDED

#include "web.h"

#include "feed.h"
#include "lh_client.h"
#include "session.h"

#include <jansson.h>
#include <microhttpd.h>

#define WEB_MAX_BODY  16384                //  bytes of a request body (a verdict, a login)
#define WEB_MAX_CALLS (LH_MAX_BROKERS + 4) //  broker requests behind one page request
#define WEB_ARG_SIZE  80

typedef struct _req_t req_t;
typedef void (req_finish_fn) (req_t *req);

//  One broker request behind a page request
typedef struct {
    lh_client_t *client;
    uint64_t id;
    lh_reply_t *reply; //  NULL until it came (or when it could not be sent)
    req_t *req;
} call_t;

struct _req_t {
    web_t *web;
    struct MHD_Connection *conn;
    const char *method, *url;
    session_t *session; //  NULL on paths that need none
    char *body;
    size_t body_size;
    bool body_too_large;
    bool suspended;
    call_t calls[WEB_MAX_CALLS];
    int ncalls, pending;
    req_finish_fn *finish;
    bool failed;            //  a call could not be sent: the error stands, finish never runs
    char arg[WEB_ARG_SIZE]; //  what the path named (an escalation id, a seq)
    struct MHD_Response *response;
    unsigned status;
    json_t *partial; //  an answer being built over several rounds of calls
};

struct _web_t {
    web_config_t config;
    struct MHD_Daemon *daemon;
    int port;
    char origin_self[128];
    zlistx_t *hosts;       //  Host values accepted
    lh_client_t *client;   //  lh-web's own key: reads
    lh_client_t **brokers; //  one per broker, for each one's stats
    size_t nbrokers;
    zlistx_t *endpoints;
    zsock_t *sub;
    feed_t *feed;
    sessions_t *sessions;
    zlistx_t *calls;   //  call_t in flight
    zlistx_t *streams; //  stream_t, one per live page
    lh_metrics_t *metrics;
    //  Decisions are heard only while someone watches: until then the
    //  brokers send the console nothing per decision
    bool hearing;
    int64_t watched_until;
    struct {
        uint64_t requests, api, static_files, not_found, refused_host, refused_origin, refused_csrf,
            unauthenticated, bad_requests, too_large, broker_calls, broker_errors, decides,
            streams_opened;
    } n;
};

//  Responses (api.c and web.c): each sets req->response and req->status
void web_respond_json (req_t *req, unsigned status, json_t *body);
void web_respond_error (req_t *req, unsigned status, const char *message);
//  Sends a request for req; returns false (after answering req with an
//  error) when it could not be sent. req->finish runs when all have come.
bool web_call (req_t *req, lh_client_t *client, const char *service, const void *body, size_t size);
//  Someone looks (a page asked something): the feed follows the
//  decisions for config.watch_ms more.
void web_watched (web_t *self);

//  The reply of call i as a map, NULL (and req answered 502/504) on error.
const msgpack_object *web_call_result (req_t *req, int i);
//  The client deciding as the session's reviewer, made on first use.
lh_client_t *web_session_client (web_t *self, session_t *session);

//  Serves DIR/NAME (a name without slashes or a leading dot; a regular
//  file, no link followed); report: a drill report, sandboxed and shown as
//  text unless an image.
void web_serve_file (req_t *req, const char *dir, const char *name, bool report);
//  Answers req with a live stream of the feed (filters NULL: any).
void web_open_stream (req_t *req, const char *agent, const char *decision, const char *rule);

//  The console's paths under /api/ (api.c): true when the path is one of
//  them (req answered or waiting for the broker), false for 404.
bool api_route (req_t *req, const char *path);

#endif
