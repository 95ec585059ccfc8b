/*  lh_config -- daemon configuration: a ZPL file (zconfig) plus
    command-line overrides, with --help generated from one option table.

    Precedence: command line > config file > built-in default.
*/
#ifndef LH_CONFIG_H_INCLUDED
#define LH_CONFIG_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

typedef struct {
    const char *name; //  long option, "--name VALUE"
    const char *path; //  ZPL path, "broker/frontend"
    const char *def;  //  default value, NULL for none
    const char *help; //  one line
    bool flag;        //  takes no value; sets "1"
} lh_option_t;

//  Parses argv against opts (terminated by a zeroed entry). Understands
//  -h/--help, --version, -c/--config FILE and --set PATH=VALUE besides the table.
//  Returns the merged tree, or NULL with *exit_code set (0 after --help or --version,
//  2 after a usage error, which is printed).
zconfig_t *lh_config_load (const char *prog, const char *summary, const lh_option_t *opts, int argc,
                           char **argv, int *exit_code);

//  Typed reads with a fallback when the path is unset or malformed.
const char *lh_config_str (zconfig_t *config, const char *path, const char *fallback);
long lh_config_int (zconfig_t *config, const char *path, long fallback);
bool lh_config_bool (zconfig_t *config, const char *path, bool fallback);

#endif
