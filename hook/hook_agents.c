/*  lh hook --agent NAME: the agents' hook contracts, one adapter each.

    claude   Claude Code PreToolUse: tool_name, tool_input, cwd; answers
             hookSpecificOutput.permissionDecision allow / ask, nothing for
             no opinion, and exit 2 with the reason on stderr to block.
    codex    Codex CLI PreToolUse: Claude Code's input; only a deny is
             honoured (allow and ask fail open, so they are never sent):
             exit 2, the reason on stderr and the documented deny JSON.
    gemini   Gemini CLI BeforeTool: tool_name, tool_input (or mcp_context);
             {"decision": "allow"}, {} for no decision, and exit 2 with
             {"decision": "deny", "reason"} and the reason on stderr.
    cursor   Cursor beforeShellExecution, beforeMCPExecution, beforeReadFile:
             {"permission": allow | ask | deny, user_message, agent_message}
             on exit 0 (beforeReadFile takes permission only, and no ask).
    copilot  GitHub Copilot CLI preToolUse: toolName, toolArgs (a JSON
             string); only {"permissionDecision": "deny"} is processed.

    Agents that cannot ask get a deny for an escalation (cli_validate.c
    says how to get the call approved) and for every failure.
*/
#include "hook_agents.h"

#include <stdio.h>
#include <string.h>

#define CONTEXT_MAX 256
#define CWD_MAX     4096

static bool
s_streq (const char *a, const char *b)
{
    return a && b && strcmp (a, b) == 0;
}

//  A string without NUL of at most max bytes, else NULL
static const char *
s_string (json_t *value, size_t max)
{
    const char *text = json_string_value (value);
    if (!text || json_string_length (value) > max || strlen (text) != json_string_length (value))
        return NULL;
    return text;
}

const char *
hook_agent_context (json_t *hook, const char *key)
{
    return s_string (json_object_get (hook, key), CONTEXT_MAX);
}

static const char *
s_absolute (json_t *value)
{
    const char *text = s_string (value, CWD_MAX - 1);
    return text && text[0] == '/' ? text : NULL;
}

//  Sets call->tool to name (1 to HOOK_TOOL_MAX bytes); false if it is not
static bool
s_set_tool (hook_call_t *call, const char *name)
{
    if (!name || !*name || strlen (name) > HOOK_TOOL_MAX)
        return false;
    snprintf (call->tool, sizeof (call->tool), "%s", name);
    return true;
}

//  An object, or a string holding one (Cursor's MCP tool_input, Copilot's
//  toolArgs): a new reference, or NULL.
static json_t *
s_object (json_t *value)
{
    if (json_is_object (value))
        return json_incref (value);
    const char *text = json_string_value (value);
    if (!text)
        return NULL;
    json_t *parsed = json_loadb (text, json_string_length (value), JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object (parsed))
        return parsed;
    json_decref (parsed);
    return NULL;
}

//  A tool of the agent and the Lighthouse tool it is, with the input keys
//  renamed to the ones the policy judges (from, to pairs).
typedef struct {
    const char *agent_tool;
    const char *tool;
    const char *renames[6];
} tool_map_t;

//  Maps call->tool by table and renames input keys; unmapped tools keep
//  their name and input (the policy decides about tools it does not know).
static int
s_map (hook_call_t *call, const tool_map_t *table, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!s_streq (call->tool, table[i].agent_tool))
            continue;
        snprintf (call->tool, sizeof (call->tool), "%s", table[i].tool);
        json_t *copy = json_copy (call->input);
        if (!copy)
            return -1;
        for (size_t k = 0; k + 1 < 6 && table[i].renames[k]; k += 2) {
            json_t *value = json_object_get (copy, table[i].renames[k]);
            if (value && !json_object_get (copy, table[i].renames[k + 1])) {
                json_object_set (copy, table[i].renames[k + 1], value);
                json_object_del (copy, table[i].renames[k]);
            }
        }
        json_decref (call->input);
        call->input = copy;
        return 0;
    }
    return 0;
}

//  Writes json compact to out, or fallback when it cannot
static void
s_dump (json_t *json, char *out, size_t size, const char *fallback)
{
    size_t n = json ? json_dumpb (json, out, size - 1, JSON_COMPACT) : 0;
    if (n == 0 || n >= size)
        snprintf (out, size, "%s", fallback);
    else
        out[n] = 0;
    json_decref (json);
}

//  --------------------------------------------------------------------------
//  Claude Code and Codex CLI: PreToolUse

static int
s_pretooluse_parse (json_t *hook, hook_call_t *call, char *why, size_t why_size)
{
    if (!s_set_tool (call, s_string (json_object_get (hook, "tool_name"), HOOK_TOOL_MAX))) {
        snprintf (why, why_size, "the hook input has no tool_name string of 1 to 64 bytes");
        return -1;
    }
    const char *event = json_string_value (json_object_get (hook, "hook_event_name"));
    if (event && !s_streq (event, "PreToolUse")) {
        snprintf (why, why_size, "lh hook is for PreToolUse, not %.64s", event);
        return -1;
    }
    json_t *input = json_object_get (hook, "tool_input");
    if (!json_is_object (input)) {
        snprintf (why, why_size, "the hook input has no tool_input object");
        return -1;
    }
    call->input = json_incref (input);
    call->cwd = s_absolute (json_object_get (hook, "cwd"));
    call->session = hook_agent_context (hook, "session_id");
    call->tool_use_id = hook_agent_context (hook, "tool_use_id");
    call->permission_mode = hook_agent_context (hook, "permission_mode");
    call->event = "PreToolUse";
    return 0;
}

static int
s_claude_parse (json_t *hook, hook_call_t *call, char *why, size_t why_size)
{
    call->can_ask = true;
    call->project_env = "CLAUDE_PROJECT_DIR";
    return s_pretooluse_parse (hook, call, why, why_size);
}

static json_t *
s_pretooluse_json (const char *decision, const char *reason)
{
    return json_pack ("{s:{s:s,s:s,s:s}}", "hookSpecificOutput", "hookEventName", "PreToolUse",
                      "permissionDecision", decision, "permissionDecisionReason", reason);
}

static void
s_claude_format (const hook_call_t *call, hook_verdict_t verdict, const char *reason, char *out,
                 size_t size, int *status, bool *to_stderr)
{
    (void) call;
    *status = verdict == HOOK_DENY ? 2 : 0;
    *to_stderr = verdict == HOOK_DENY;
    out[0] = 0;
    if (verdict != HOOK_NONE)
        s_dump (s_pretooluse_json (verdict == HOOK_ALLOW ? "allow"
                                   : verdict == HOOK_ASK ? "ask"
                                                         : "deny",
                                   reason),
                out, size, "");
}

static int
s_codex_parse (json_t *hook, hook_call_t *call, char *why, size_t why_size)
{
    call->can_ask = false;
    return s_pretooluse_parse (hook, call, why, why_size);
}

//  Only deny is honoured; anything else printed would make the hook fail
static void
s_codex_format (const hook_call_t *call, hook_verdict_t verdict, const char *reason, char *out,
                size_t size, int *status, bool *to_stderr)
{
    (void) call;
    bool block = verdict == HOOK_DENY || verdict == HOOK_ASK;
    *status = block ? 2 : 0;
    *to_stderr = block;
    out[0] = 0;
    if (block)
        s_dump (s_pretooluse_json ("deny", reason), out, size,
                "{\"hookSpecificOutput\":{\"hookEventName\":\"PreToolUse\","
                "\"permissionDecision\":\"deny\",\"permissionDecisionReason\":"
                "\"Lighthouse could not decide\"}}");
}

//  --------------------------------------------------------------------------
//  Gemini CLI: BeforeTool

static const tool_map_t s_gemini_tools[] = {
    {"run_shell_command", "Bash", {NULL}},
    {"read_file", "Read", {"absolute_path", "file_path", NULL}},
    {"write_file", "Write", {NULL}},
    {"replace", "Edit", {NULL}},
    {"glob", "Glob", {NULL}},
    {"search_file_content", "Grep", {NULL}},
    {"grep_search", "Grep", {NULL}},
    {"list_directory", "LS", {"dir_path", "path", NULL}},
    {"web_fetch", "WebFetch", {NULL}},
    {"google_web_search", "WebSearch", {NULL}},
};

static int
s_gemini_parse (json_t *hook, hook_call_t *call, char *why, size_t why_size)
{
    call->can_ask = false;
    call->project_env = "GEMINI_PROJECT_DIR";
    const char *name = s_string (json_object_get (hook, "tool_name"), HOOK_TOOL_MAX);
    json_t *mcp = json_object_get (hook, "mcp_context");
    if (json_is_object (mcp)) {
        //  An MCP tool: mcp__<server>__<tool>, as Claude Code names them
        const char *server = s_string (json_object_get (mcp, "server_name"), HOOK_TOOL_MAX);
        const char *tool = s_string (json_object_get (mcp, "tool_name"), HOOK_TOOL_MAX);
        char full[3 * HOOK_TOOL_MAX];
        if (!server || !tool || !*server || !*tool ||
            snprintf (full, sizeof (full), "mcp__%s__%s", server, tool) > HOOK_TOOL_MAX) {
            snprintf (why, why_size,
                      "the hook input's mcp_context has no server_name and "
                      "tool_name making a tool name of at most 64 bytes");
            return -1;
        }
        s_set_tool (call, full);
    } else if (!s_set_tool (call, name)) {
        snprintf (why, why_size, "the hook input has no tool_name string of 1 to 64 bytes");
        return -1;
    }
    const char *event = json_string_value (json_object_get (hook, "hook_event_name"));
    if (event && !s_streq (event, "BeforeTool")) {
        snprintf (why, why_size, "lh hook --agent gemini is for BeforeTool, not %.64s", event);
        return -1;
    }
    json_t *input = json_object_get (hook, "tool_input");
    if (!json_is_object (input)) {
        snprintf (why, why_size, "the hook input has no tool_input object");
        return -1;
    }
    call->input = json_incref (input);
    call->cwd = s_absolute (json_object_get (hook, "cwd"));
    call->session = hook_agent_context (hook, "session_id");
    call->event = "BeforeTool";
    if (s_map (call, s_gemini_tools, sizeof (s_gemini_tools) / sizeof (s_gemini_tools[0]))) {
        snprintf (why, why_size, "out of memory mapping the tool input");
        return -1;
    }
    return 0;
}

static void
s_gemini_format (const hook_call_t *call, hook_verdict_t verdict, const char *reason, char *out,
                 size_t size, int *status, bool *to_stderr)
{
    (void) call;
    bool block = verdict == HOOK_DENY || verdict == HOOK_ASK;
    *status = block ? 2 : 0;
    *to_stderr = block;
    if (block)
        s_dump (json_pack ("{s:s,s:s}", "decision", "deny", "reason", reason), out, size,
                "{\"decision\":\"deny\",\"reason\":\"Lighthouse could not decide\"}");
    else
        snprintf (out, size, "%s", verdict == HOOK_ALLOW ? "{\"decision\":\"allow\"}" : "{}");
}

//  --------------------------------------------------------------------------
//  Cursor: beforeShellExecution, beforeMCPExecution, beforeReadFile

static int
s_cursor_parse (json_t *hook, hook_call_t *call, char *why, size_t why_size)
{
    const char *event = s_string (json_object_get (hook, "hook_event_name"), 64);
    json_t *roots = json_object_get (hook, "workspace_roots");
    const char *root = s_absolute (json_array_get (roots, 0));
    call->project = root;
    call->session = hook_agent_context (hook, "conversation_id");
    call->cwd = root;
    call->event = event;
    call->can_ask = true;
    if (s_streq (event, "beforeShellExecution")) {
        s_set_tool (call, "Bash");
        json_t *command = json_object_get (hook, "command");
        if (!json_is_string (command)) {
            snprintf (why, why_size, "the hook input has no command string");
            return -1;
        }
        const char *cwd = s_absolute (json_object_get (hook, "cwd"));
        if (cwd)
            call->cwd = cwd;
        call->input = json_pack ("{s:O}", "command", command);
    } else if (s_streq (event, "beforeMCPExecution")) {
        const char *tool = s_string (json_object_get (hook, "tool_name"), HOOK_TOOL_MAX);
        //  The server's name when Cursor gives one; its url or command is no name
        const char *server = s_string (json_object_get (hook, "server_name"), HOOK_TOOL_MAX);
        if (!server)
            server = s_string (json_object_get (hook, "server"), HOOK_TOOL_MAX);
        char full[3 * HOOK_TOOL_MAX];
        if (!tool || !*tool ||
            snprintf (full, sizeof (full), "mcp__%s__%s", server && *server ? server : "unknown",
                      tool) > HOOK_TOOL_MAX) {
            snprintf (why, why_size, "the hook input has no tool_name string of 1 to 64 bytes");
            return -1;
        }
        s_set_tool (call, full);
        call->input = s_object (json_object_get (hook, "tool_input"));
        if (!call->input) {
            snprintf (why, why_size, "the hook input has no tool_input object");
            return -1;
        }
    } else if (s_streq (event, "beforeReadFile")) {
        //  beforeReadFile answers permission only, allow or deny
        call->can_ask = false;
        s_set_tool (call, "Read");
        json_t *path = json_object_get (hook, "file_path");
        if (!json_is_string (path)) {
            snprintf (why, why_size, "the hook input has no file_path string");
            return -1;
        }
        call->input = json_pack ("{s:O}", "file_path", path);
    } else {
        snprintf (why, why_size,
                  "lh hook --agent cursor is for beforeShellExecution, beforeMCPExecution and "
                  "beforeReadFile, not %.64s",
                  event ? event : "(no hook_event_name)");
        return -1;
    }
    if (!call->input) {
        snprintf (why, why_size, "out of memory reading the hook input");
        return -1;
    }
    return 0;
}

static void
s_cursor_format (const hook_call_t *call, hook_verdict_t verdict, const char *reason, char *out,
                 size_t size, int *status, bool *to_stderr)
{
    //  Exit 0 with the JSON: the documented answer; stderr is only logged
    *status = 0;
    *to_stderr = verdict == HOOK_DENY || verdict == HOOK_ASK;
    bool read_file = s_streq (call->event, "beforeReadFile");
    if (verdict == HOOK_NONE)
        out[0] = 0;
    else if (verdict == HOOK_ALLOW)
        snprintf (out, size, "{\"permission\":\"allow\"}");
    else if (read_file || (verdict == HOOK_ASK && !call->can_ask))
        snprintf (out, size, "{\"permission\":\"deny\"}");
    else
        s_dump (json_pack ("{s:s,s:s,s:s}", "permission", verdict == HOOK_ASK ? "ask" : "deny",
                           "user_message", reason, "agent_message", reason),
                out, size, "{\"permission\":\"deny\"}");
}

//  --------------------------------------------------------------------------
//  GitHub Copilot CLI: preToolUse

static const tool_map_t s_copilot_tools[] = {
    {"bash", "Bash", {NULL}},
    {"view", "Read", {"path", "file_path", NULL}},
    {"create", "Write", {"path", "file_path", "file_text", "content"}},
    {"edit", "Edit", {"path", "file_path", "old_str", "old_string", "new_str", "new_string"}},
    {"glob", "Glob", {NULL}},
    {"grep", "Grep", {NULL}},
    {"web_fetch", "WebFetch", {NULL}},
};

static int
s_copilot_parse (json_t *hook, hook_call_t *call, char *why, size_t why_size)
{
    call->can_ask = false;
    if (!s_set_tool (call, s_string (json_object_get (hook, "toolName"), HOOK_TOOL_MAX))) {
        snprintf (why, why_size, "the hook input has no toolName string of 1 to 64 bytes");
        return -1;
    }
    call->input = s_object (json_object_get (hook, "toolArgs"));
    if (!call->input) {
        snprintf (why, why_size, "the hook input has no toolArgs object (or JSON string of one)");
        return -1;
    }
    call->cwd = s_absolute (json_object_get (hook, "cwd"));
    call->session = hook_agent_context (hook, "sessionId");
    call->event = "preToolUse";
    if (s_map (call, s_copilot_tools, sizeof (s_copilot_tools) / sizeof (s_copilot_tools[0]))) {
        snprintf (why, why_size, "out of memory mapping the tool input");
        return -1;
    }
    return 0;
}

static void
s_copilot_format (const hook_call_t *call, hook_verdict_t verdict, const char *reason, char *out,
                  size_t size, int *status, bool *to_stderr)
{
    (void) call;
    *status = 0;
    *to_stderr = verdict == HOOK_DENY || verdict == HOOK_ASK;
    out[0] = 0;
    if (*to_stderr)
        s_dump (json_pack ("{s:s,s:s}", "permissionDecision", "deny", "permissionDecisionReason",
                           reason),
                out, size,
                "{\"permissionDecision\":\"deny\",\"permissionDecisionReason\":"
                "\"Lighthouse could not decide\"}");
}

//  --------------------------------------------------------------------------

static const hook_agent_t s_agents[] = {
    {"claude", "Claude Code", s_claude_parse, s_claude_format},
    {"codex", "Codex CLI", s_codex_parse, s_codex_format},
    {"gemini", "Gemini CLI", s_gemini_parse, s_gemini_format},
    {"cursor", "Cursor", s_cursor_parse, s_cursor_format},
    {"copilot", "GitHub Copilot CLI", s_copilot_parse, s_copilot_format},
};

const hook_agent_t *
hook_agent_find (const char *name)
{
    for (size_t i = 0; name && i < sizeof (s_agents) / sizeof (s_agents[0]); i++)
        if (strcmp (name, s_agents[i].name) == 0)
            return &s_agents[i];
    return NULL;
}

const hook_agent_t *
hook_agent_default (void)
{
    return &s_agents[0];
}

const char *
hook_agent_names (void)
{
    return "claude|codex|gemini|cursor|copilot";
}
