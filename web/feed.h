/*  feed -- what the console hears on the brokers' PUB sockets.

    lh-web subscribes (as an admin key) to the validators' decision notices
    (validate.decisions), lh-expert's queue changes (expert.queue) and the
    replicas' checkpoints, alerts and status (events.read.*). The feed keeps
    the recent past in memory only -- a ring of entries, a second-by-second
    summary of decisions, the latest word of each replica -- so that a page
    opened now has something to show; the log stays the record.

    Readers (one per open live page) take the entries after their cursor as
    server-sent events, filtered by agent, decision and rule, at most
    `rate` decisions a second each: a reader that falls behind the ring or
    over its rate is told how many it missed, and the validators never
    wait for a browser.
*/
#ifndef LH_WEB_FEED_H_INCLUDED
#define LH_WEB_FEED_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _feed_t feed_t;
typedef struct _feed_reader_t feed_reader_t;

//  ring: entries kept; rate: decisions a second sent to one reader.
feed_t *feed_new (size_t ring, int rate);
void feed_destroy (feed_t **self_p);

//  Takes one message read on the SUB socket ([topic, body]); false when it
//  was not something the feed knows (counted, ignored).
bool feed_take (feed_t *self, zmsg_t *msg);
//  Closes the second that ended (call at least once a second); true when
//  a new summary was added.
bool feed_tick (feed_t *self);

//  Recent decisions, oldest first, matching the filters (NULL: any), at
//  most limit: {"decisions": [...]}.
json_t *feed_decisions (feed_t *self, const char *agent, const char *decision, const char *rule,
                        size_t limit);
//  The per-second summaries of the last two minutes: {"ticks": [...]}.
json_t *feed_rates (feed_t *self);
//  Each replica's last status and when it was heard: array of maps.
json_t *feed_replicas (feed_t *self);
//  Recent integrity alerts, newest last.
json_t *feed_alerts (feed_t *self);

//  A reader starting at the next entry; filters are copied (NULL: any).
feed_reader_t *feed_reader_new (feed_t *self, const char *agent, const char *decision,
                                const char *rule);
void feed_reader_destroy (feed_reader_t **self_p);
//  Writes what is due to this reader as text/event-stream into buf (at
//  most size bytes); 0 when nothing is due.
size_t feed_reader_fill (feed_reader_t *self, char *buf, size_t size);

typedef struct {
    uint64_t messages, decisions, ignored, sent, dropped;
} feed_counters_t;
feed_counters_t feed_counters (feed_t *self);

#endif
