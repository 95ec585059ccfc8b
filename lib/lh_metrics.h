/*  lh_metrics -- a daemon's counters for Prometheus (text exposition 0.0.4).

    A daemon given --metrics IPV4:PORT renders its counters into text now
    and then (lh_metrics_text_*) and hands the text to lh_metrics_publish;
    a thread of its own answers GET /metrics with the latest text, so a
    scrape never waits on, or races with, the daemon's loop. Anything but
    GET /metrics is 404; a request must arrive within a second and in 4 KiB.
    The listener takes loopback or a host's own address, never 0.0.0.0
    by accident: the operator names it.
*/
#ifndef LH_METRICS_H_INCLUDED
#define LH_METRICS_H_INCLUDED

#include <msgpack.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _lh_metrics_t lh_metrics_t;

//  Listens on listen ("IPv4:PORT"; port 0 picks one). NULL with err.
lh_metrics_t *lh_metrics_new (const char *listen, char *err, size_t err_size);
//  An "IPV4:PORT" address as lh_metrics_new takes it (and lh-web's
//  --listen, lh status's LH_STATUS_METRICS). 0, or -1 when it is not one.
int lh_metrics_address (const char *text, struct sockaddr_in *addr);
void lh_metrics_destroy (lh_metrics_t **self_p);
int lh_metrics_port (lh_metrics_t *self);
//  Replaces what scrapes get.
void lh_metrics_publish (lh_metrics_t *self, const char *text, size_t size);

//  Publishes a packed counters map (msgpack) as PREFIX_KEY samples, as
//  lh_metrics_text_map renders them: what most daemons need, in one call.
void lh_metrics_publish_map (lh_metrics_t *self, const char *prefix, const void *packed,
                             size_t size, const char *const *gauges);

//  Exposition text being built: HELP and TYPE written once per name
typedef struct _lh_metrics_text_t lh_metrics_text_t;
lh_metrics_text_t *lh_metrics_text_new (void);
void lh_metrics_text_destroy (lh_metrics_text_t **self_p);
//  One sample: name (lighthouse_..., [a-z0-9_]), type "counter" or
//  "gauge", labels ('key="value",...' already escaped, or NULL)
void lh_metrics_text_add (lh_metrics_text_t *self, const char *name, const char *type,
                          const char *help, const char *labels, double value);
//  Every unsigned entry of a counters map as PREFIX_KEY: a gauge when its
//  key is in gauges (NULL-terminated), else a counter named PREFIX_KEY_total.
void lh_metrics_text_map (lh_metrics_text_t *self, const char *prefix,
                          const msgpack_object *counters, const char *const *gauges,
                          const char *labels);
//  Escapes value for a label (backslash, quote, newline) into out.
void lh_metrics_label (const char *value, char *out, size_t size);
const char *lh_metrics_text_data (lh_metrics_text_t *self, size_t *size);

#endif
