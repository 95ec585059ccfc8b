/*  lh_cli -- what the lh commands share. */
#ifndef LH_CLI_H_INCLUDED
#define LH_CLI_H_INCLUDED

#include "lh_client.h"

typedef struct {
    lh_connect_t conn;
    zcert_t *cert;
    int timeout_ms;
} cli_t;

//  Prints message and the usage text; returns 2.
int cli_usage_error (const char *message);
//  A client with the command line's settings (1 resend); NULL after a message.
lh_client_t *cli_client (cli_t *cli);
//  Sends an empty request map to service and returns the reply.
lh_reply_t *cli_call_empty (lh_client_t *client, const char *service);
//  Prints an error reply on stderr; returns 1.
int cli_print_error (const lh_reply_t *reply);
//  Sets environment variables from KEY=VALUE lines ("export " and single or
//  double quotes allowed). Returns 0, or -1 after a message.
int cli_load_env (const char *path);

//  Commands in lh_validate.c
int cli_validate (cli_t *cli, int argc, char **argv);
int cli_hook (cli_t *cli, int argc, char **argv);
int cli_policy (cli_t *cli, int argc, char **argv);

//  Commands in lh_event.c (the integrity log)
int cli_event (cli_t *cli, int argc, char **argv);
int cli_checkpoint (cli_t *cli, int argc, char **argv);
int cli_consistency (cli_t *cli, int argc, char **argv);
int cli_verify (cli_t *cli, int argc, char **argv);

#endif
