/*  cli -- what the lh commands share. */
#ifndef CLI_H_INCLUDED
#define CLI_H_INCLUDED

#include "lh_client.h"

#include <stdbool.h>

typedef struct {
    lh_connect_t conn;
    zcert_t *cert;
    int timeout_ms;
    bool timeout_set; //  --timeout was given
} cli_t;

//  The exit status of usage errors: 2, except for lh validate, where 2
//  means deny (it uses CLI_EXIT_USAGE).
extern int cli_usage_status;
#define CLI_EXIT_USAGE 64

//  The usage text cli_usage_error prints (lh's; set by main).
void cli_usage_set (const char *usage);
//  Prints message and the usage text; returns cli_usage_status.
int cli_usage_error (const char *message);
//  True when a command's argv (argv[0] the command) asks for help: -h or
//  --help right after the command or after its subcommand word.
bool cli_wants_help (int argc, char **argv);

//  What cli_setup found wrong.
typedef enum {
    CLI_SETUP_OK,
    CLI_SETUP_HELP,   //  -h/--help before the command (not printed)
    CLI_SETUP_USAGE,  //  a bad or incomplete option
    CLI_SETUP_CONFIG, //  env file, endpoint, keys or certificate
} cli_setup_t;

//  Reads --env FILE, then the environment (LH_BROKER, LH_BROKER_KEY,
//  LH_CERT), then the options before the command into cli, checking every
//  key and certificate before czmq sees it (czmq asserts on malformed
//  keys). strict: LH_BROKER is required (else tcp://127.0.0.1:5555).
//  Sets *command to the index of the command word (argc when none). On
//  failure the message is in err; cli->cert is then NULL.
cli_setup_t cli_setup (cli_t *cli, int argc, char **argv, bool strict, int *command, char *err,
                       size_t err_size);
//  The index of the command word in argv (after --env FILE and the
//  options), argc when there is none.
int cli_command_index (int argc, char **argv);
//  A client with the command line's settings (1 resend); NULL after a message.
lh_client_t *cli_client (cli_t *cli);
//  Sends an empty request map to service and returns the reply.
lh_reply_t *cli_call_empty (lh_client_t *client, const char *service);
//  Calls service with body; an error reply is printed and destroyed (NULL),
//  as is no reply at all.
lh_reply_t *cli_call (lh_client_t *client, const char *service, const void *body, size_t size);
//  Prints an error reply on stderr; returns 1.
int cli_print_error (const lh_reply_t *reply);
//  Sets environment variables from NAME=VALUE lines ("export " and single or
//  double quotes allowed, no expansions; PATH lines are skipped). Any other
//  line but blanks and comments is an error: returns -1 with a message in
//  err (the file may be half applied), else 0.
int cli_load_env (const char *path, char *err, size_t err_size);
//  A CURVE certificate from a zcert file (PATH_secret when it exists, as
//  zcert_load does), checked: a regular readable file of at most 64 KiB,
//  both keys present as 40 characters of Z85, and the secret key the one
//  of the public key. NULL with a message in err.
zcert_t *cli_cert_load (const char *path, char *err, size_t err_size);
//  True when key is 40 characters of valid Z85 (a 32-byte CURVE key).
bool cli_key_valid (const char *key);

//  A command: argv[0] is the command word. Returns the exit status.
typedef int cli_command_fn (cli_t *cli, int argc, char **argv);
//  Whether the settings suit a command; 0, or -1 after a message.
typedef int cli_check_fn (const cli_t *cli);

//  Commands in cli_status.c
int cli_status (cli_t *cli, int argc, char **argv);
extern const char cli_status_usage[];

//  Commands in cli_validate.c
extern const char cli_validate_usage[];

extern const char cli_policy_usage[];
int cli_validate (cli_t *cli, int argc, char **argv);
//  lh hook: the whole program (setup included) when the command is hook,
//  so that every failure is a fail-closed answer.
int cli_hook_main (int argc, char **argv);
int cli_policy (cli_t *cli, int argc, char **argv);

//  Commands in cli_review.c (escalations, docs/EXPERT.md)
extern const char cli_review_usage[];
extern const char cli_approve_usage[];
int cli_review (cli_t *cli, int argc, char **argv);
int cli_approve (cli_t *cli, int argc, char **argv);

//  Commands in cli_workspace.c (lh-fuse workspace in the background)
extern const char cli_workspace_usage[];
int cli_workspace (cli_t *cli, int argc, char **argv);

//  Commands in cli_chaos.c (orders for lh-chaos, the fault proxy)
extern const char cli_chaos_usage[];
int cli_chaos (cli_t *cli, int argc, char **argv);

//  Commands in cli_expert.c (automated experts, docs/EXPERT.md 4)
extern const char cli_expert_usage[];
int cli_expert (cli_t *cli, int argc, char **argv);

//  Commands in cli_event.c (the integrity log)
extern const char cli_event_usage[];
extern const char cli_checkpoint_usage[];
extern const char cli_consistency_usage[];
extern const char cli_verify_usage[];
int cli_event (cli_t *cli, int argc, char **argv);
int cli_checkpoint (cli_t *cli, int argc, char **argv);
int cli_consistency (cli_t *cli, int argc, char **argv);
int cli_verify (cli_t *cli, int argc, char **argv);

#endif
