/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "panel-host.h"

#include <string.h>

static gboolean fail(GError **error, const char *host, const char *why) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "“%s” is not [USER@]HOST[:PORT][/MACHINE]: %s",
                    host, why);
        return FALSE;
}

/* A user or host name as ssh gets it on its command line. */
static gboolean clean_part(const char *s, const char *host, const char *what, GError **error) {
        if (!*s) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "“%s” is not [USER@]HOST[:PORT][/MACHINE]: the %s is empty", host, what);
                return FALSE;
        }
        if (s[0] == '-')
                return fail(error, host, "a name starts with '-'");
        for (const char *p = s; *p; p++)
                if (g_ascii_isspace(*p) || g_ascii_iscntrl(*p))
                        return fail(error, host, "blanks and control characters are not allowed");
        return TRUE;
}

char **panel_host_argv(const char *host, GError **error) {
        g_autofree char *user = NULL, *name = NULL, *port = NULL, *machine = NULL;
        const char *rest = host;

        if (!host || !*host) {
                fail(error, host ?: "", "it is empty");
                return NULL;
        }

        const char *at = strchr(rest, '@');
        if (at) {
                user = g_strndup(rest, (gsize) (at - rest));
                rest = at + 1;
        }

        if (rest[0] == '[') {
                const char *close = strchr(rest, ']');
                if (!close) {
                        fail(error, host, "'[' without ']'");
                        return NULL;
                }
                name = g_strndup(rest + 1, (gsize) (close - rest - 1));
                rest = close + 1;
                if (*rest && *rest != ':' && *rest != '/') {
                        fail(error, host, "text after ']'");
                        return NULL;
                }
        } else {
                size_t n = strcspn(rest, ":/");
                name = g_strndup(rest, n);
                rest += n;
        }

        if ((user && !clean_part(user, host, "user", error)) || !clean_part(name, host, "host", error))
                return NULL;

        if (*rest == ':') {
                rest++;
                size_t n = strcspn(rest, "/");
                port = g_strndup(rest, n);
                rest += n;
                guint64 v = 0;
                if (!*port || strspn(port, "0123456789") != strlen(port) ||
                    !g_ascii_string_to_unsigned(port, 10, 1, 65535, &v, NULL)) {
                        fail(error, host, "the port must be a number from 1 to 65535");
                        return NULL;
                }
        }

        if (*rest == '/') {
                machine = g_strdup(rest + 1);
                if (!*machine || machine[0] == '-' || machine[0] == '.' ||
                    strspn(machine, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                            strlen(machine)) {
                        fail(error, host, "the machine must be a name of letters, digits, '.', '_' and '-'");
                        return NULL;
                }
        }

        GPtrArray *argv = g_ptr_array_new();
        g_ptr_array_add(argv, g_strdup("ssh"));
        g_ptr_array_add(argv, g_strdup("-xT"));
        if (port) {
                g_ptr_array_add(argv, g_strdup("-p"));
                g_ptr_array_add(argv, g_strdup(port));
        }
        /* "--": whatever the host is called, ssh takes no option from it. */
        g_ptr_array_add(argv, g_strdup("--"));
        g_ptr_array_add(argv, user ? g_strconcat(user, "@", name, NULL) : g_strdup(name));
        g_ptr_array_add(argv, g_strdup("systemd-stdio-bridge"));
        if (machine)
                g_ptr_array_add(argv, g_strconcat("--machine=", machine, NULL));
        g_ptr_array_add(argv, NULL);
        return (char **) g_ptr_array_free(argv, FALSE);
}
