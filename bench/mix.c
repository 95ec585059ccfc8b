/*  mix -- the validate request mix of lh-bench --suite validate. See bench.h.

    bench/validate-mix.tsv lists tool calls by class (safe, risky, complex)
    with the decision the default policy gives them. A request draws its
    class by share (70 / 20 / 10) and then one call of the class uniformly,
    from a per-agent xorshift64* stream, so runs repeat exactly.
*/
#include "bench.h"

#include "codec.h"
#include "jsonpack.h"

const char *mix_class_name[MIX_CLASSES] = {"safe", "risky", "complex"};
const int mix_class_pct[MIX_CLASSES] = {70, 20, 10};

uint64_t
mix_rand (uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int
s_class (const char *name)
{
    for (int c = 0; c < MIX_CLASSES; c++)
        if (streq (name, mix_class_name[c]))
            return c;
    return -1;
}

//  The command or path of an input, for messages
static char *
s_label (const msgpack_object *input)
{
    static const char *keys[] = {"command", "file_path", "path", "pattern"};
    for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++) {
        const msgpack_object *v = codec_map_get (input, keys[i]);
        if (v && v->type == MSGPACK_OBJECT_STR) {
            size_t len = v->via.str.size > 60 ? 60 : v->via.str.size;
            char *label = (char *) malloc (len + 1);
            memcpy (label, v->via.str.ptr, len);
            label[len] = 0;
            for (char *c = label; *c; c++)
                if (*c == '\n' || *c == '\t')
                    *c = ' ';
            return label;
        }
    }
    return strdup ("?");
}

int
mix_load (mix_t *self, const char *path, char *err, size_t err_size)
{
    memset (self, 0, sizeof (*self));
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, err_size, "cannot open %s", path);
        return -1;
    }
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t n;
    int lineno = 0, cap = 0, rc = 0;
    while (rc == 0 && (n = getline (&line, &line_cap, file)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        char *cols[5] = {NULL};
        int k = 0;
        for (char *c = line; c && k < 5; k++) {
            cols[k] = c;
            c = strchr (c, '\t');
            if (c)
                *c++ = 0;
        }
        int cls = k >= 4 ? s_class (cols[0]) : -1;
        bool known = k >= 4 && (streq (cols[3], "allow") || streq (cols[3], "defer") ||
                                streq (cols[3], "escalate") || streq (cols[3], "deny"));
        if (cls < 0 || !known) {
            snprintf (err, err_size, "%s:%d: expected CLASS TOOL INPUT EXPECTED", path, lineno);
            rc = -1;
            break;
        }
        if (self->count == cap) {
            cap = cap ? cap * 2 : 64;
            self->entry =
                (mix_entry_t *) realloc (self->entry, (size_t) cap * sizeof (mix_entry_t));
        }
        mix_entry_t *e = &self->entry[self->count];
        memset (e, 0, sizeof (*e));
        msgpack_sbuffer_init (&e->input);
        char why[256];
        msgpack_unpacked msg;
        msgpack_unpacked_init (&msg);
        size_t off = 0;
        if (jsonpack_from_json (cols[2], strlen (cols[2]), &e->input, why, sizeof (why)) != 0 ||
            msgpack_unpack_next (&msg, e->input.data, e->input.size, &off) !=
                MSGPACK_UNPACK_SUCCESS ||
            msg.data.type != MSGPACK_OBJECT_MAP) {
            snprintf (err, err_size, "%s:%d: input is not a JSON object", path, lineno);
            msgpack_unpacked_destroy (&msg);
            msgpack_sbuffer_destroy (&e->input);
            rc = -1;
            break;
        }
        e->cls = (mix_class_t) cls;
        e->tool = strdup (cols[1]);
        e->expected = strdup (cols[3]);
        e->label = s_label (&msg.data);
        msgpack_unpacked_destroy (&msg);
        self->count++;
    }
    free (line);
    fclose (file);
    for (int c = 0; c < MIX_CLASSES; c++)
        self->of_class[c] = (int *) calloc ((size_t) self->count + 1, sizeof (int));
    for (int i = 0; i < self->count; i++) {
        mix_class_t c = self->entry[i].cls;
        self->of_class[c][self->in_class[c]++] = i;
    }
    for (int c = 0; c < MIX_CLASSES && rc == 0; c++)
        if (self->in_class[c] == 0) {
            snprintf (err, err_size, "%s: no %s entry", path, mix_class_name[c]);
            rc = -1;
        }
    if (rc != 0)
        mix_destroy (self);
    return rc;
}

void
mix_destroy (mix_t *self)
{
    for (int i = 0; i < self->count; i++) {
        free (self->entry[i].tool);
        free (self->entry[i].expected);
        free (self->entry[i].label);
        msgpack_sbuffer_destroy (&self->entry[i].input);
    }
    free (self->entry);
    for (int c = 0; c < MIX_CLASSES; c++)
        free (self->of_class[c]);
    memset (self, 0, sizeof (*self));
}

void
mix_cwd (char *buf, size_t size, const char *token)
{
    //  "/home/dev/proj/w/" + 20 characters
    snprintf (buf, size, "%s/w/%.20s", MIX_PROJECT, token ? token : "warm0000000000000000");
}

void
mix_body (const mix_t *self, int index, const char *cwd, msgpack_sbuffer *buf)
{
    const mix_entry_t *e = &self->entry[index];
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 5);
    codec_pack_str (&pk, "tool");
    codec_pack_str (&pk, e->tool);
    codec_pack_str (&pk, "input");
    msgpack_sbuffer_write (buf, e->input.data, e->input.size);
    codec_pack_str (&pk, "cwd");
    codec_pack_str (&pk, cwd);
    codec_pack_str (&pk, "home");
    codec_pack_str (&pk, MIX_HOME);
    codec_pack_str (&pk, "project");
    codec_pack_str (&pk, MIX_PROJECT);
}

int
mix_pick (const mix_t *self, uint64_t *rng)
{
    int roll = (int) (mix_rand (rng) % 100);
    int c = 0;
    for (int acc = mix_class_pct[0]; c < MIX_CLASSES - 1 && roll >= acc; acc += mix_class_pct[c])
        c++;
    return self->of_class[c][mix_rand (rng) % (uint64_t) self->in_class[c]];
}

double
mix_mean_body (const mix_t *self)
{
    char cwd[64];
    mix_cwd (cwd, sizeof (cwd), NULL);
    double mean = 0;
    for (int c = 0; c < MIX_CLASSES; c++) {
        double sum = 0;
        for (int k = 0; k < self->in_class[c]; k++) {
            msgpack_sbuffer buf;
            msgpack_sbuffer_init (&buf);
            mix_body (self, self->of_class[c][k], cwd, &buf);
            sum += (double) buf.size;
            msgpack_sbuffer_destroy (&buf);
        }
        mean += sum / self->in_class[c] * mix_class_pct[c] / 100.0;
    }
    return mean;
}
