/*  lh-broker -- entry point: configuration, logging, run. */
#include "broker.h"

#include "lh_node.h"
#include "lh_log.h"

#include <pthread.h>
#include <signal.h>

static const lh_option_t s_options[] = {
    {"name", "broker/name", "broker",
     "this broker's name: in broker.ping, lh status and every metric's broker label", false},
    {"frontend", "broker/frontend", "tcp://127.0.0.1:5555", "endpoint for clients (agents)", false},
    {"backend", "broker/backend", "tcp://127.0.0.1:5556", "endpoint for workers (nodes)", false},
    {"pub", "broker/pub", "tcp://127.0.0.1:5557", "endpoint for notifications (PUB)", false},
    {"cert", "broker/cert", NULL, "broker secret certificate (zcert, from lh keygen)", false},
    {"roster", "broker/roster", NULL, "roster file: public key -> agent id, role", false},
    {"plaintext", "broker/plaintext", NULL,
     "no CURVE, no authentication, no role checks (testing only)", true},
    {"plaintext-role", "broker/plaintext_role", "admin",
     "role named in caller frames in plaintext (rate limits follow it)", false},
    {"timeout", "broker/request_timeout", "5000", "default request deadline, ms", false},
    {"queue-max", "broker/queue_max", "1000", "default queued requests per service", false},
    {"retries", "broker/max_retries", "1", "resends to another worker when one dies", false},
    {"heartbeat", "broker/heartbeat", "2500", "MDP heartbeat interval, ms", false},
    {"liveness", "broker/liveness", "3", "missed heartbeats before a worker expires", false},
    {"hwm", "broker/hwm", "1000", "high-water mark per peer, messages", false},
    {"client-heartbeat", "broker/client_heartbeat", "0",
     "ZMTP heartbeat to clients, ms (0: none, TCP keepalive finds dead clients); workers always "
     "2000",
     false},
    {"io-threads", "broker/io_threads", "1", "ZeroMQ I/O threads (CURVE work runs there)", false},
    {"metrics", "broker/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "broker/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

int
main (int argc, char **argv)
{
    //  Blocked in every thread (czmq's too, so before it starts); broker_run
    //  reads it through a signalfd
    sigset_t hup;
    sigemptyset (&hup);
    sigaddset (&hup, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &hup, NULL);
    static const lh_node_t node = {
        "lh-broker",
        "Lighthouse broker: routes 7/MDP requests from agents to workers with\n"
        "CURVE authentication, roles, rate limits and deadlines. Services are\n"
        "declared under service/<name> (timeout, queue_max); role rules under\n"
        "role/<agent|expert|node|admin> (call, serve, rate, burst).",
        s_options, "broker"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    //  Enough sockets and file descriptors for many thousands of peers
    zsys_set_max_sockets (0);
    zsys_set_io_threads ((size_t) lh_config_int (config, "broker/io_threads", 1));
    broker_t *broker = broker_new (config);
    int rc = 1;
    if (broker) {
        rc = broker_run (broker);
        broker_destroy (&broker);
    }
    zconfig_destroy (&config);
    return rc;
}
