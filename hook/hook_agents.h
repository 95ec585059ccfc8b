/*  lh hook --agent NAME: one adapter per agent's documented hook contract.

    An adapter reads the agent's hook JSON into a validate call and writes
    a verdict the way that agent understands it. The flow around them (the
    request, the deadline, signals, failing closed) is in hook.c.
*/
#ifndef LH_HOOK_AGENTS_H
#define LH_HOOK_AGENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  A mapped tool name is at most this long
#define HOOK_TOOL_MAX 64

typedef enum {
    HOOK_ALLOW,
    HOOK_ASK,
    HOOK_DENY,
    HOOK_NONE //  no opinion: the agent's own permission flow applies
} hook_verdict_t;

//  One tool call, as the validate request needs it
typedef struct {
    char tool[HOOK_TOOL_MAX + 1]; //  "" until known
    json_t *input;                //  owned; a JSON object
    const char *cwd;              //  checked by the caller (absolute)
    const char *session;          //  context, or NULL
    const char *tool_use_id;
    const char *permission_mode;
    const char *project;     //  an absolute project root, or NULL
    const char *project_env; //  the agent's env variable naming it, or NULL
    const char *event;       //  the agent's hook event, or NULL
    bool can_ask;            //  the agent can ask its user for this call
} hook_call_t;

typedef struct {
    const char *name;  //  --agent NAME
    const char *label; //  for messages: "Codex CLI"
    //  Fills call from the hook JSON: 0, or -1 with why (call->tool set
    //  when it was known before the problem).
    int (*parse) (json_t *hook, hook_call_t *call, char *why, size_t why_size);
    //  Writes the answer for verdict to out (NUL-terminated, "" for none);
    //  sets the exit status and whether the reason goes to stderr.
    void (*format) (const hook_call_t *call, hook_verdict_t verdict, const char *reason, char *out,
                    size_t out_size, int *status, bool *to_stderr);
} hook_agent_t;

//  The adapter called name, or NULL
const hook_agent_t *hook_agent_find (const char *name);

//  Claude Code: lh hook without --agent
const hook_agent_t *hook_agent_default (void);

//  The agents' names, "claude|codex|..."
const char *hook_agent_names (void);

//  A hook string sent as context: at most 256 bytes, no NUL, else NULL
const char *hook_agent_context (json_t *hook, const char *key);

#endif
