/*  lh_node -- the daemons' shared start-up. See lh_node.h. */
#include "lh_node.h"

#include "lh_log.h"

#include <assert.h>

zconfig_t *
lh_node_start (const lh_node_t *node, int argc, char **argv, int *exit_code)
{
    assert (node && node->prog && node->summary && node->options && node->section && exit_code);
    *exit_code = 0;
    zconfig_t *config =
        lh_config_load (node->prog, node->summary, node->options, argc, argv, exit_code);
    if (!config)
        return NULL;
    char path[128];
    snprintf (path, sizeof (path), "%s/log_level", node->section);
    lh_log_init (node->section, lh_log_level_parse (lh_config_str (config, path, "info")));
    zsys_init ();
    zsys_set_logsystem (false);
    return config;
}

int
lh_node_cert (zconfig_t *config, const char *section, zcert_t **cert_p)
{
    assert (config && section && cert_p);
    char path[128];
    snprintf (path, sizeof (path), "%s/cert", section);
    const char *cert_path = lh_config_str (config, path, NULL);
    *cert_p = NULL;
    if (cert_path && !(*cert_p = zcert_load (cert_path))) {
        lh_error ("cannot load certificate", "path=%s", cert_path);
        return -1;
    }
    return 0;
}

int
lh_node_metrics (zconfig_t *config, const char *section, lh_metrics_t **metrics_p)
{
    assert (config && section && metrics_p);
    char path[128], err[256];
    snprintf (path, sizeof (path), "%s/metrics", section);
    const char *listen = lh_config_str (config, path, NULL);
    *metrics_p = NULL;
    if (!listen)
        return 0;
    if (!(*metrics_p = lh_metrics_new (listen, err, sizeof (err)))) {
        lh_error ("cannot serve metrics", "error=\"%s\"", err);
        return -1;
    }
    lh_info ("metrics", "listen=%s port=%d", listen, lh_metrics_port (*metrics_p));
    return 0;
}
