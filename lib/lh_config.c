/*  lh_config -- ZPL config with command-line overrides. See lh_config.h. */
#include "lh_config.h"
#include "lh_version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void
s_usage (FILE *out, const char *prog, const char *summary, const lh_option_t *opts)
{
    fprintf (out, "Usage: %s [-c FILE] [--OPTION VALUE ...] [--set PATH=VALUE ...]\n\n%s\n\n", prog,
             summary);
    fprintf (out, "  -h, --help              this text\n"
                  "  --version               print the version and exit\n"
                  "  -c, --config FILE       ZPL config file (czmq zconfig)\n"
                  "  --set PATH=VALUE        set any config path, e.g. --set broker/hwm=5000\n");
    for (const lh_option_t *o = opts; o->name; o++) {
        char left[64];
        snprintf (left, sizeof (left), "--%s%s", o->name, o->flag ? "" : " VALUE");
        fprintf (out, "  %-23s %s [%s%s%s]\n", left, o->help, o->path, o->def ? " = " : "",
                 o->def ? o->def : "");
    }
    fprintf (out, "\nCommand-line options override the config file, which overrides defaults.\n");
}

static const lh_option_t *
s_find (const lh_option_t *opts, const char *name, size_t len)
{
    for (const lh_option_t *o = opts; o->name; o++)
        if (strlen (o->name) == len && memcmp (o->name, name, len) == 0)
            return o;
    return NULL;
}

zconfig_t *
lh_config_load (const char *prog, const char *summary, const lh_option_t *opts, int argc,
                char **argv, int *exit_code)
{
    const char *file = NULL;
    //  First pass: help and the config file, so overrides apply on top of it
    for (int i = 1; i < argc; i++) {
        if (streq (argv[i], "-h") || streq (argv[i], "--help")) {
            s_usage (stdout, prog, summary, opts);
            *exit_code = 0;
            return NULL;
        }
        if (streq (argv[i], "--version")) {
            printf ("%s %s\n", prog, lh_version ());
            *exit_code = 0;
            return NULL;
        }
        if ((streq (argv[i], "-c") || streq (argv[i], "--config")) && i + 1 < argc)
            file = argv[++i];
    }
    zconfig_t *config = NULL;
    if (file) {
        config = zconfig_load (file);
        if (!config) {
            fprintf (stderr, "%s: cannot read config file '%s': %s\n", prog, file,
                     errno ? strerror (errno) : "syntax error");
            *exit_code = 2;
            return NULL;
        }
    } else
        config = zconfig_new ("root", NULL);

    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        arg = argv[i];
        if (streq (arg, "-c") || streq (arg, "--config")) {
            if (i + 1 >= argc)
                goto usage_error;
            i++;
            continue;
        }
        if (strncmp (arg, "--", 2) != 0)
            goto usage_error;
        const char *name = arg + 2;
        const char *eq = strchr (name, '=');
        size_t name_len = eq ? (size_t) (eq - name) : strlen (name);
        const char *value = eq ? eq + 1 : NULL;

        if (name_len == 3 && memcmp (name, "set", 3) == 0) {
            if (!value) {
                if (i + 1 >= argc)
                    goto usage_error;
                value = argv[++i];
            }
            const char *sep = strchr (value, '=');
            if (!sep || sep == value)
                goto usage_error;
            char path[256];
            snprintf (path, sizeof (path), "%.*s", (int) (sep - value), value);
            zconfig_put (config, path, sep + 1);
            continue;
        }
        const lh_option_t *o = s_find (opts, name, name_len);
        if (!o)
            goto usage_error;
        if (o->flag)
            value = value ? value : "1";
        else if (!value) {
            if (i + 1 >= argc)
                goto usage_error;
            value = argv[++i];
        }
        zconfig_put (config, o->path, value);
    }
    for (const lh_option_t *o = opts; o->name; o++)
        if (o->def && !zconfig_locate (config, o->path))
            zconfig_put (config, o->path, o->def);
    return config;

usage_error:
    fprintf (stderr, "%s: bad or incomplete argument '%s' (try --help)\n", prog, arg);
    zconfig_destroy (&config);
    *exit_code = 2;
    return NULL;
}

const char *
lh_config_str (zconfig_t *config, const char *path, const char *fallback)
{
    return zconfig_get (config, path, fallback);
}

long
lh_config_int (zconfig_t *config, const char *path, long fallback)
{
    const char *text = zconfig_get (config, path, NULL);
    if (!text || !*text)
        return fallback;
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || *end)
        return fallback;
    return value;
}

bool
lh_config_bool (zconfig_t *config, const char *path, bool fallback)
{
    const char *text = zconfig_get (config, path, NULL);
    if (!text)
        return fallback;
    if (streq (text, "1") || streq (text, "true") || streq (text, "yes") || streq (text, "on"))
        return true;
    if (streq (text, "0") || streq (text, "false") || streq (text, "no") || streq (text, "off"))
        return false;
    return fallback;
}
