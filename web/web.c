/*  web -- lh-web's HTTP server, broker clients and PUB feed in one loop. */
#include "web_internal.h"

#include "codec.h"
#include "jsonpack.h"
#include "lh_log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOOP_MAX_WAIT_MS  100 //  ticks, client deadlines and probes run at least this often
#define STREAM_WAKE_MS    50  //  live pages woken at most this often
#define NOTICES_MS        50  //  notices taken at most this often
#define STREAM_BLOCK      16384
#define SHUTDOWN_DRAIN_MS 500

//  What every response carries: no script, style or frame but our own
#define CSP_PAGES                                                                                  \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
//  Drill reports are files others wrote: shown, never run
#define CSP_FILES "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"

typedef struct {
    web_t *web;
    struct MHD_Connection *conn;
    feed_reader_t *reader;
    bool suspended;
    bool closing;
} stream_t;

//  Pages by path; each name is a file of the static directory
static const struct {
    const char *path, *file;
} s_pages[] = {
    {"/", "live.html"},           {"/review", "review.html"}, {"/log", "log.html"},
    {"/cluster", "cluster.html"}, {"/login", "login.html"},
};

static void
s_headers (struct MHD_Response *response, const char *csp, bool cacheable)
{
    MHD_add_response_header (response, "Content-Security-Policy", csp);
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (response, "X-Frame-Options", "DENY");
    MHD_add_response_header (response, "Referrer-Policy", "no-referrer");
    MHD_add_response_header (response, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header (response, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header (response, "Cache-Control", cacheable ? "no-cache" : "no-store");
}

static void
s_respond_text (req_t *req, unsigned status, const char *type, const char *text, size_t size)
{
    if (req->response)
        MHD_destroy_response (req->response);
    req->response = MHD_create_response_from_buffer (size, (void *) text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header (req->response, "Content-Type", type);
    s_headers (req->response, CSP_PAGES, false);
    req->status = status;
}

void
web_respond_json (req_t *req, unsigned status, json_t *body)
{
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (!text) {
        s_respond_text (req, 500, "application/json", "{\"error\":\"internal\"}", 20);
        return;
    }
    s_respond_text (req, status, "application/json", text, strlen (text));
    free (text);
}

void
web_respond_error (req_t *req, unsigned status, const char *message)
{
    json_t *body = json_object ();
    json_object_set_new (body, "error", json_string (message));
    web_respond_json (req, status, body);
}

//  Broker calls

static void
s_call_done (call_t *call)
{
    req_t *req = call->req;
    if (--req->pending > 0)
        return;
    if (!req->failed)
        req->finish (req);
    if (req->pending > 0)
        return; //  finish asked the brokers for more
    if (req->suspended) {
        req->suspended = false;
        MHD_resume_connection (req->conn);
    }
}

bool
web_call (req_t *req, lh_client_t *client, const char *service, const void *body, size_t size)
{
    web_t *self = req->web;
    assert (req->ncalls < WEB_MAX_CALLS);
    call_t *call = &req->calls[req->ncalls];
    const char *why = NULL;
    if (lh_client_send (client, service, body, size, &call->id, &why) != 0) {
        self->n.broker_errors++;
        web_respond_error (req, 502, why ? why : "the request could not be sent");
        req->failed = true;
        return false;
    }
    req->ncalls++;
    req->pending++;
    call->client = client;
    call->req = req;
    zlistx_add_end (self->calls, call);
    self->n.broker_calls++;
    return true;
}

const msgpack_object *
web_call_result (req_t *req, int i)
{
    call_t *call = &req->calls[i];
    if (!call->reply) {
        web_respond_error (req, 503, "the console is stopping or the session ended");
        return NULL;
    }
    if (!lh_reply_ok (call->reply)) {
        lh_err_t code = lh_reply_code (call->reply);
        req->web->n.broker_errors++;
        char message[600];
        snprintf (message, sizeof (message), "%s: %s", lh_reply_code_name (call->reply),
                  lh_reply_message (call->reply));
        unsigned status = code == LH_E_NOT_FOUND                               ? 404
                          : code == LH_E_FORBIDDEN                             ? 403
                          : code == LH_E_BAD_REQUEST || code == LH_E_TOO_LARGE ? 400
                          : code == LH_E_TIMEOUT || code == LH_E_UNAVAILABLE   ? 504
                                                                               : 502;
        web_respond_error (req, status, message);
        return NULL;
    }
    return lh_reply_root (call->reply);
}

//  Replies from one client to the calls waiting on it
static void
s_drain (web_t *self, lh_client_t *client)
{
    lh_reply_t *reply;
    while ((reply = lh_client_recv (client, 0))) {
        call_t *found = NULL;
        for (call_t *c = (call_t *) zlistx_first (self->calls); c;
             c = (call_t *) zlistx_next (self->calls))
            if (c->client == client && c->id == lh_reply_id (reply)) {
                found = c;
                zlistx_delete (self->calls, zlistx_cursor (self->calls));
                break;
            }
        if (!found) {
            lh_reply_destroy (&reply);
            continue;
        }
        found->reply = reply;
        s_call_done (found);
    }
}

//  Ends every call on client (NULL: every call) without its reply
static void
s_calls_abandon (web_t *self, lh_client_t *client)
{
    call_t *c = (call_t *) zlistx_first (self->calls);
    while (c) {
        if (!client || c->client == client) {
            zlistx_delete (self->calls, zlistx_cursor (self->calls));
            s_call_done (c);
            c = (call_t *) zlistx_first (self->calls);
        } else
            c = (call_t *) zlistx_next (self->calls);
    }
}

static void
s_session_closed (void *arg, session_t *session)
{
    web_t *self = (web_t *) arg;
    lh_client_t *client = (lh_client_t *) session->client;
    if (!client)
        return;
    s_calls_abandon (self, client);
    lh_client_destroy (&client);
    session->client = NULL;
}

lh_client_t *
web_session_client (web_t *self, session_t *session)
{
    if (!session->cert)
        return NULL;
    if (!session->client) {
        lh_connect_t conn = self->config.conn;
        conn.cert = session->cert;
        lh_client_t *client = lh_client_new (&conn);
        if (client) {
            lh_client_set_timeout (client, self->config.call_timeout_ms);
            lh_client_set_retries (client, 1);
        }
        session->client = client;
    }
    return (lh_client_t *) session->client;
}

//  Requests

static void
s_req_free (req_t *req)
{
    for (int i = 0; i < req->ncalls; i++)
        lh_reply_destroy (&req->calls[i].reply);
    if (req->response)
        MHD_destroy_response (req->response);
    json_decref (req->partial);
    free (req->body);
    free (req);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) cls;
    (void) conn;
    (void) toe;
    req_t *req = (req_t *) *con_cls;
    if (req) {
        //  A request still waiting on the broker cannot end: its connection
        //  is suspended until every call has come (s_call_done)
        assert (req->pending == 0);
        s_req_free (req);
        *con_cls = NULL;
    }
}

static enum MHD_Result
s_queue (req_t *req)
{
    enum MHD_Result rc = MHD_queue_response (req->conn, req->status, req->response);
    MHD_destroy_response (req->response);
    req->response = NULL;
    return rc;
}

static bool
s_host_ok (web_t *self, const char *host)
{
    if (!host)
        return false;
    for (const char *h = (const char *) zlistx_first (self->hosts); h;
         h = (const char *) zlistx_next (self->hosts))
        if (streq (h, host))
            return true;
    return false;
}

//  A name in a directory: letters, digits, '.', '-', '_', not starting with '.'
static bool
s_file_name_ok (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > 128 || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!isalnum ((unsigned char) c) && c != '.' && c != '-' && c != '_')
            return false;
    }
    return true;
}

static const char *
s_mime (const char *name)
{
    const char *dot = strrchr (name, '.');
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".ico", "image/x-icon"},
    };
    for (size_t i = 0; dot && i < sizeof (types) / sizeof (types[0]); i++)
        if (streq (dot, types[i].ext))
            return types[i].type;
    return "text/plain; charset=utf-8";
}

void
web_serve_file (req_t *req, const char *dir, const char *name, bool report)
{
    if (!dir || !s_file_name_ok (name)) {
        req->web->n.not_found++;
        web_respond_error (req, 404, "not found");
        return;
    }
    int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dirfd < 0 ? -1 : openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (dirfd >= 0)
        close (dirfd);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        if (fd >= 0)
            close (fd);
        req->web->n.not_found++;
        web_respond_error (req, 404, "not found");
        return;
    }
    if (req->response)
        MHD_destroy_response (req->response);
    req->response = MHD_create_response_from_fd ((uint64_t) st.st_size, fd);
    if (!req->response) {
        close (fd);
        web_respond_error (req, 500, "internal");
        return;
    }
    const char *type = s_mime (name);
    //  A report's HTML or JSON is shown as text: its author is not us
    if (report && !strstr (type, "image/"))
        type = "text/plain; charset=utf-8";
    MHD_add_response_header (req->response, "Content-Type", type);
    s_headers (req->response, report ? CSP_FILES : CSP_PAGES, !report);
    req->status = 200;
    req->web->n.static_files++;
}

//  Live pages: server-sent events

static ssize_t
s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    stream_t *stream = (stream_t *) cls;
    if (stream->closing)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = feed_reader_fill (stream->reader, buf, max);
    if (n > 0)
        return (ssize_t) n;
    //  Nothing due: sleep until the feed has more (s_streams_wake)
    stream->suspended = true;
    MHD_suspend_connection (stream->conn);
    return 0;
}

static void
s_stream_free (void *cls)
{
    stream_t *stream = (stream_t *) cls;
    web_t *self = stream->web;
    void *handle = zlistx_find (self->streams, stream);
    if (handle)
        zlistx_detach (self->streams, handle);
    feed_reader_destroy (&stream->reader);
    free (stream);
}

void
web_open_stream (req_t *req, const char *agent, const char *decision, const char *rule)
{
    web_t *self = req->web;
    stream_t *stream = (stream_t *) zmalloc (sizeof (stream_t));
    stream->web = self;
    stream->conn = req->conn;
    stream->reader = feed_reader_new (self->feed, agent, decision, rule);
    if (req->response)
        MHD_destroy_response (req->response);
    req->response = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                       s_stream_read, stream, s_stream_free);
    if (!req->response) {
        feed_reader_destroy (&stream->reader);
        free (stream);
        web_respond_error (req, 500, "internal");
        return;
    }
    zlistx_add_end (self->streams, stream);
    MHD_add_response_header (req->response, "Content-Type", "text/event-stream");
    MHD_add_response_header (req->response, "X-Accel-Buffering", "no");
    s_headers (req->response, CSP_PAGES, false);
    req->status = 200;
    self->n.streams_opened++;
}

static void
s_streams_wake (web_t *self, bool closing)
{
    for (stream_t *s = (stream_t *) zlistx_first (self->streams); s;
         s = (stream_t *) zlistx_next (self->streams)) {
        if (closing)
            s->closing = true;
        if (s->suspended) {
            s->suspended = false;
            MHD_resume_connection (s->conn);
        }
    }
}

//  The handler MHD calls for every request, several times: first with the
//  headers, then with each piece of the body, then with none left

static bool
s_check_post (req_t *req)
{
    web_t *self = req->web;
    const char *type =
        MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    //  A cross-site form cannot send JSON without asking first, and we never answer
    if (!type || strncasecmp (type, "application/json", 16) != 0) {
        self->n.bad_requests++;
        web_respond_error (req, 415, "requests must be application/json");
        return false;
    }
    const char *origin = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Host");
    if (origin) {
        char http[300], https[300];
        snprintf (http, sizeof (http), "http://%s", host ? host : "");
        snprintf (https, sizeof (https), "https://%s", host ? host : "");
        if (!streq (origin, http) && !streq (origin, https)) {
            self->n.refused_origin++;
            web_respond_error (req, 403, "cross-origin request refused");
            return false;
        }
    }
    if (req->body_too_large) {
        self->n.too_large++;
        web_respond_error (req, 413, "request body too large");
        return false;
    }
    return true;
}

static void
s_route (req_t *req)
{
    web_t *self = req->web;
    const char *url = req->url;
    bool get = streq (req->method, "GET") || streq (req->method, "HEAD");
    bool post = streq (req->method, "POST");
    if (strncmp (url, "/api/", 5) == 0) {
        self->n.api++;
        if (!get && !post) {
            web_respond_error (req, 405, "method not allowed");
            return;
        }
        const char *cookie = MHD_lookup_connection_value (req->conn, MHD_COOKIE_KIND, "lh_session");
        req->session = sessions_find (self->sessions, cookie);
        bool login = streq (url, "/api/login");
        if (!login && !req->session) {
            self->n.unauthenticated++;
            web_respond_error (req, 401, "log in first");
            return;
        }
        if (req->session)
            web_watched (self);
        if (post && !s_check_post (req))
            return;
        if (post && !login &&
            !session_csrf_ok (req->session, MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND,
                                                                         "X-CSRF-Token"))) {
            self->n.refused_csrf++;
            web_respond_error (req, 403, "missing or wrong CSRF token");
            return;
        }
        if (!api_route (req, url + 4)) {
            self->n.not_found++;
            web_respond_error (req, 404, "no such API path");
        }
        return;
    }
    if (!get) {
        web_respond_error (req, 405, "method not allowed");
        return;
    }
    for (size_t i = 0; i < sizeof (s_pages) / sizeof (s_pages[0]); i++)
        if (streq (url, s_pages[i].path)) {
            web_serve_file (req, self->config.static_dir, s_pages[i].file, false);
            return;
        }
    if (strncmp (url, "/static/", 8) == 0) {
        web_serve_file (req, self->config.static_dir, url + 8, false);
        return;
    }
    self->n.not_found++;
    web_respond_error (req, 404, "not found");
}

static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    web_t *self = (web_t *) cls;
    req_t *req = (req_t *) *con_cls;
    if (!req) {
        req = (req_t *) zmalloc (sizeof (req_t));
        req->web = self;
        req->conn = conn;
        req->method = method;
        req->url = url;
        *con_cls = req;
        self->n.requests++;
        //  A page on another name reaching us (DNS rebinding) is refused
        if (!s_host_ok (self, MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Host"))) {
            self->n.refused_host++;
            web_respond_error (req, 421, "unknown Host: this console answers only its own names");
            return s_queue (req);
        }
        //  A body announced too large is refused before it is read
        const char *length =
            MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull (length, NULL, 10) > WEB_MAX_BODY) {
            self->n.too_large++;
            web_respond_error (req, 413, "request body too large");
            return s_queue (req);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!req->response && !req->body_too_large) {
            if (req->body_size + *upload_data_size > WEB_MAX_BODY) {
                req->body_too_large = true;
                free (req->body);
                req->body = NULL;
                req->body_size = 0;
            } else {
                req->body = (char *) realloc (req->body, req->body_size + *upload_data_size + 1);
                assert (req->body);
                memcpy (req->body + req->body_size, upload_data, *upload_data_size);
                req->body_size += *upload_data_size;
                req->body[req->body_size] = 0;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->response)
        return s_queue (req);
    if (req->pending > 0)
        return MHD_YES; //  resumed early: still waiting
    s_route (req);
    if (req->pending > 0) {
        //  Waiting on the broker: park the connection until every reply came
        req->suspended = true;
        MHD_suspend_connection (conn);
        return MHD_YES;
    }
    if (!req->response)
        web_respond_error (req, 500, "internal: no answer was made");
    return s_queue (req);
}

//  %XX decoded in place, except %00: a NUL would cut the name we check
//  short of the one asked for, so it stays as text and matches nothing
static size_t
s_unescape (void *cls, struct MHD_Connection *conn, char *text)
{
    (void) cls;
    (void) conn;
    char *out = text;
    for (const char *in = text; *in; in++) {
        if (in[0] == '%' && isxdigit ((unsigned char) in[1]) && isxdigit ((unsigned char) in[2])) {
            char hex[3] = {in[1], in[2], 0};
            char c = (char) strtol (hex, NULL, 16);
            if (c != 0) {
                *out++ = c;
                in += 2;
                continue;
            }
        }
        *out++ = *in;
    }
    *out = 0;
    return (size_t) (out - text);
}

//  libmicrohttpd's messages, as our log lines
static void s_mhd_log (void *cls, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 2, 0)));

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char text[512];
    vsnprintf (text, sizeof (text), fmt, ap);
    size_t len = strlen (text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = 0;
    lh_warn ("http", "detail=\"%s\"", text);
}

//  Set-up

static void
s_hosts_add (web_t *self, const char *host)
{
    zlistx_add_end (self->hosts, (void *) host);
}

web_t *
web_new (const web_config_t *config, char *err, size_t err_size)
{
    struct sockaddr_in addr;
    if (lh_metrics_address (config->listen, &addr) != 0) {
        snprintf (err, err_size, "listen must be IPV4:PORT, not '%s'",
                  config->listen ? config->listen : "");
        return NULL;
    }
    zlistx_t *endpoints = lh_connect_endpoints (config->conn.endpoint);
    if (!endpoints) {
        snprintf (err, err_size, "bad broker list '%s'", config->conn.endpoint);
        return NULL;
    }
    web_t *self = (web_t *) zmalloc (sizeof (web_t));
    self->config = *config;
    self->endpoints = endpoints;
    self->hosts = zlistx_new ();
    zlistx_set_duplicator (self->hosts, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (self->hosts, (zlistx_destructor_fn *) zstr_free);
    self->calls = zlistx_new ();
    self->streams = zlistx_new ();
    self->feed = feed_new (4096, config->stream_rate);
    self->sessions = sessions_new (config->tokens_path, config->idle_ms, config->max_age_ms,
                                   (size_t) config->max_sessions);
    sessions_set_on_close (self->sessions, s_session_closed, self);

    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    self->daemon = MHD_start_daemon (
        flags, 0, NULL, NULL, s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr, MHD_OPTION_UNESCAPE_CALLBACK, s_unescape,
        NULL, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned) config->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned) config->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 60,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 65536, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (err, err_size, "cannot listen on %s: %s", config->listen, strerror (errno));
        web_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    char host[96];
    inet_ntop (AF_INET, &addr.sin_addr, host, sizeof (host));
    char name[128];
    snprintf (name, sizeof (name), "%s:%d", host, self->port);
    s_hosts_add (self, name);
    snprintf (name, sizeof (name), "localhost:%d", self->port);
    s_hosts_add (self, name);
    snprintf (name, sizeof (name), "127.0.0.1:%d", self->port);
    s_hosts_add (self, name);
    zlistx_t *extra = config->allow_hosts && *config->allow_hosts
                          ? lh_connect_endpoints (config->allow_hosts)
                          : NULL;
    for (const char *h = extra ? (const char *) zlistx_first (extra) : NULL; h;
         h = (const char *) zlistx_next (extra))
        s_hosts_add (self, h);
    zlistx_destroy (&extra);

    self->client = lh_client_new (&config->conn);
    self->nbrokers = zlistx_size (endpoints);
    self->brokers = (lh_client_t **) zmalloc (self->nbrokers * sizeof (lh_client_t *));
    size_t k = 0;
    for (const char *ep = (const char *) zlistx_first (endpoints); ep;
         ep = (const char *) zlistx_next (endpoints), k++) {
        lh_connect_t one = config->conn;
        one.endpoint = ep;
        self->brokers[k] = lh_client_new (&one);
        if (!self->brokers[k]) {
            snprintf (err, err_size, "cannot connect to broker %s", ep);
            web_destroy (&self);
            return NULL;
        }
    }
    lh_connect_t pub = config->conn;
    pub.endpoint = config->pub;
    self->sub = config->pub ? lh_connect_sub (&pub) : NULL;
    if (!self->client || (config->pub && !self->sub)) {
        snprintf (err, err_size, "cannot connect to the brokers (%s, pub %s)",
                  config->conn.endpoint, config->pub ? config->pub : "-");
        web_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < self->nbrokers; i++) {
        lh_client_set_timeout (self->brokers[i], config->call_timeout_ms);
        lh_client_set_retries (self->brokers[i], 0);
    }
    lh_client_set_timeout (self->client, config->call_timeout_ms);
    lh_client_set_retries (self->client, 1);
    if (self->sub) {
        zsock_set_subscribe (self->sub, "expert.queue");
        zsock_set_subscribe (self->sub, "events.read.");
    }
    return self;
}

void
web_destroy (web_t **self_p)
{
    web_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    s_calls_abandon (self, NULL);
    //  Sessions close their clients through s_session_closed
    sessions_destroy (&self->sessions);
    lh_client_destroy (&self->client);
    for (size_t i = 0; i < self->nbrokers; i++)
        lh_client_destroy (&self->brokers[i]);
    free (self->brokers);
    zsock_destroy (&self->sub);
    feed_destroy (&self->feed);
    zlistx_destroy (&self->calls);
    zlistx_destroy (&self->streams);
    zlistx_destroy (&self->hosts);
    zlistx_destroy (&self->endpoints);
    free (self);
    *self_p = NULL;
}

void
web_set_metrics (web_t *self, lh_metrics_t *metrics)
{
    self->metrics = metrics;
}

void
web_counters_pack (web_t *self, msgpack_packer *pk)
{
    feed_counters_t f = feed_counters (self->feed);
    sessions_counters_t s = sessions_counters (self->sessions);
    const struct {
        const char *name;
        uint64_t value;
    } counters[] = {
        {"requests", self->n.requests},
        {"api", self->n.api},
        {"static_files", self->n.static_files},
        {"not_found", self->n.not_found},
        {"refused_host", self->n.refused_host},
        {"refused_origin", self->n.refused_origin},
        {"refused_csrf", self->n.refused_csrf},
        {"unauthenticated", self->n.unauthenticated},
        {"bad_requests", self->n.bad_requests},
        {"too_large", self->n.too_large},
        {"broker_calls", self->n.broker_calls},
        {"broker_errors", self->n.broker_errors},
        {"decides", self->n.decides},
        {"streams_opened", self->n.streams_opened},
        {"streams", zlistx_size (self->streams)},
        {"sessions", sessions_size (self->sessions)},
        {"logins", s.logins},
        {"login_failures", s.login_failures},
        {"login_limited", s.login_limited},
        {"logouts", s.logouts},
        {"sessions_expired", s.expired},
        {"notices", f.messages},
        {"notices_ignored", f.ignored},
        {"decisions_seen", f.decisions},
        {"events_sent", f.sent},
        {"events_dropped", f.dropped},
    };
    size_t count = sizeof (counters) / sizeof (counters[0]);
    msgpack_pack_map (pk, count);
    for (size_t i = 0; i < count; i++)
        codec_pack_kv_u64 (pk, counters[i].name, counters[i].value);
}

static void
s_metrics_publish (web_t *self)
{
    if (!self->metrics)
        return;
    codec_buf_t buf;
    codec_buf_init (&buf);
    web_counters_pack (self, &buf.pk);
    static const char *gauges[] = {"streams", "sessions", NULL};
    lh_metrics_publish_map (self->metrics, "lighthouse_web", buf.sbuf.data, buf.sbuf.size, gauges);
    codec_buf_destroy (&buf);
}

int
web_port (web_t *self)
{
    return self->port;
}

//  Every client with requests out: the console's own, each broker's, and
//  reviewers' whose decides are in flight
static void
s_drain_all (web_t *self)
{
    s_drain (self, self->client);
    for (size_t i = 0; i < self->nbrokers; i++)
        s_drain (self, self->brokers[i]);
    //  Reviewers' clients: gathered first, as draining changes the list
    lh_client_t *others[64];
    size_t count = 0;
    for (call_t *c = (call_t *) zlistx_first (self->calls); c && count < 64;
         c = (call_t *) zlistx_next (self->calls)) {
        bool known = c->client == self->client;
        for (size_t i = 0; i < self->nbrokers && !known; i++)
            known = c->client == self->brokers[i];
        for (size_t i = 0; i < count && !known; i++)
            known = c->client == others[i];
        if (!known)
            others[count++] = c->client;
    }
    for (size_t i = 0; i < count; i++)
        s_drain (self, others[i]);
}

static void
s_take_notices (web_t *self, bool *woke)
{
    if (!self->sub)
        return;
    void *handle = zsock_resolve (self->sub);
    for (int i = 0; i < 1000; i++) {
        zmsg_t *msg = zmsg_recv_nowait (handle);
        if (!msg)
            break;
        if (feed_take (self->feed, msg))
            *woke = true;
        zmsg_destroy (&msg);
    }
}

void
web_watched (web_t *self)
{
    self->watched_until = zclock_mono () + self->config.watch_ms;
}

//  Follows validate.decisions while a page is open or was asked something
//  lately, and not otherwise: a console nobody looks at costs the brokers
//  and validators nothing per decision
static void
s_hearing (web_t *self, int64_t now)
{
    bool want = zlistx_size (self->streams) > 0 || now < self->watched_until;
    if (!self->sub || want == self->hearing)
        return;
    if (want)
        zsock_set_subscribe (self->sub, "validate.decisions");
    else
        zsock_set_unsubscribe (self->sub, "validate.decisions");
    self->hearing = want;
    lh_info (want ? "following decisions" : "not following decisions", "streams=%zu",
             zlistx_size (self->streams));
}

int
web_run (web_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    int http_fd = info ? info->epoll_fd : -1;
    int64_t last_wake = 0, last_tick = 0, last_metrics = 0, notices_at = 0;
    bool due = false;
    while (!zsys_interrupted) {
        int64_t now = zclock_mono ();
        s_hearing (self, now);
        //  Notices are taken in batches, at most every NOTICES_MS: each
        //  wake-up of ours is one taken from the guard's two cores
        bool take = self->sub && now - notices_at >= NOTICES_MS;
        zmq_pollitem_t items[3 + LH_MAX_BROKERS] = {{NULL, http_fd, ZMQ_POLLIN, 0}};
        int n = 1, sub_at = -1;
        if (take) {
            sub_at = n;
            items[n++] = (zmq_pollitem_t){zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
        }
        bool calls = zlistx_size (self->calls) > 0;
        if (calls) {
            items[n++] = (zmq_pollitem_t){NULL, lh_client_fd (self->client), ZMQ_POLLIN, 0};
            for (size_t i = 0; i < self->nbrokers; i++)
                items[n++] = (zmq_pollitem_t){NULL, lh_client_fd (self->brokers[i]), ZMQ_POLLIN, 0};
        }
        long wait = LOOP_MAX_WAIT_MS;
        MHD_UNSIGNED_LONG_LONG mhd_wait = 0;
        if (MHD_get_timeout (self->daemon, &mhd_wait) == MHD_YES && mhd_wait < (unsigned) wait)
            wait = (long) mhd_wait;
        if (!take && self->sub && notices_at + NOTICES_MS - now < wait)
            wait = (long) (notices_at + NOTICES_MS - now);
        if (due && last_wake + STREAM_WAKE_MS - now < wait)
            wait = (long) (last_wake + STREAM_WAKE_MS - now);
        if (calls && wait > 10)
            wait = 10; //  client deadlines and probes run inside lh_client_recv
        if (zmq_poll (items, n, wait < 0 ? 0 : wait) < 0 && errno != EINTR)
            break;
        now = zclock_mono ();
        if (sub_at >= 0 && (items[sub_at].revents & ZMQ_POLLIN)) {
            s_take_notices (self, &due);
            notices_at = now;
        }
        if (calls)
            s_drain_all (self);
        if (now - last_tick >= 200) {
            last_tick = now;
            if (feed_tick (self->feed))
                due = true;
            sessions_tick (self->sessions);
        }
        if (now - last_metrics >= 1000) {
            last_metrics = now;
            s_metrics_publish (self);
        }
        if (due && now - last_wake >= STREAM_WAKE_MS) {
            s_streams_wake (self, false);
            last_wake = now;
            due = false;
        }
        //  Every turn: cheap when nothing is ready (one epoll_wait), and a
        //  resumed connection is handled at once
        MHD_run (self->daemon);
    }
    //  Every live page is told the stream ended, every waiting page answered
    lh_info ("stopping", "streams=%zu calls=%zu", zlistx_size (self->streams),
             zlistx_size (self->calls));
    //  No new connections; the listening socket is ours to close now
    MHD_socket listener = MHD_quiesce_daemon (self->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close (listener);
    s_calls_abandon (self, NULL);
    s_streams_wake (self, true);
    int64_t until = zclock_mono () + SHUTDOWN_DRAIN_MS;
    while (zclock_mono () < until && zlistx_size (self->streams) > 0) {
        MHD_run (self->daemon);
        zclock_sleep (10);
    }
    return 0;
}
