/*  lh_node -- the start-up every Lighthouse daemon shares.

    Options and config file (lh_config), structured logs (lh_log) at the
    level of <section>/log_level, czmq initialised with its own log lines
    off (ours are structured). What is particular to a daemon (signals,
    sockets) follows in its main.
*/
#ifndef LH_NODE_H_INCLUDED
#define LH_NODE_H_INCLUDED

#include "lh_config.h"
#include "lh_metrics.h"

typedef struct {
    const char *prog;           //  program name, e.g. "lh-echo"
    const char *summary;        //  what --help says it is
    const lh_option_t *options; //  its option table
    const char *section;        //  config section and log name, e.g. "echo"
} lh_node_t;

//  Parses argv against the node's options and config file, starts logging
//  and czmq. Returns the configuration (the caller destroys it), or NULL
//  with *exit_code set: 0 after --help or --version, 2 after a usage error.
zconfig_t *lh_node_start (const lh_node_t *node, int argc, char **argv, int *exit_code);

//  Loads the certificate at <section>/cert into *cert_p (NULL when none is
//  configured). Returns 0, or -1 after logging why.
int lh_node_cert (zconfig_t *config, const char *section, zcert_t **cert_p);

//  Serves Prometheus metrics at <section>/metrics (--metrics) into
//  *metrics_p (NULL when none is configured). Returns 0, or -1 after
//  logging why.
int lh_node_metrics (zconfig_t *config, const char *section, lh_metrics_t **metrics_p);

#endif
