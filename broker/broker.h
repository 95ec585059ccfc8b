/*  broker -- lh-broker: routes 7/MDP requests from agents to workers.

    Single-threaded zloop over a ROUTER frontend (clients), a ROUTER backend
    (workers), a PUB socket (notifications) and the ZAP handler. The broker
    authenticates, checks roles, rate-limits, queues, dispatches to the
    least recently used worker with free capacity, enforces deadlines and
    counts everything it drops. It knows nothing of what services do.
*/
#ifndef LH_BROKER_H_INCLUDED
#define LH_BROKER_H_INCLUDED

#include <czmq.h>

typedef struct _broker_t broker_t;

//  Creates a broker from its configuration (see broker/main.c for the
//  paths) and binds its sockets. NULL, with a log line, on failure.
broker_t *broker_new (zconfig_t *config);
void broker_destroy (broker_t **self_p);

//  Runs until SIGINT/SIGTERM; SIGHUP reloads the roster. The caller must
//  block SIGHUP (pthread_sigmask) before any ZeroMQ thread starts. Returns 0.
int broker_run (broker_t *self);

#endif
