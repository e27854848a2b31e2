/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsync-panel --host: the text systemd's -H takes, turned into the ssh
 * command sd-bus runs for it, and nothing ssh could take for an option. */

#include <glib.h>

#include "panel-host.h"

static void assert_argv(const char *host, const char *const *expected) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = panel_host_argv(host, &error);
        g_assert_no_error(error);
        g_assert_cmpstrv(argv, expected);
}

static void assert_refused(const char *host, const char *why) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = panel_host_argv(host, &error);
        g_assert_null(argv);
        g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
        g_autofree char *expected = g_strdup_printf("“%s” is not [USER@]HOST[:PORT][/MACHINE]: %s", host ?: "", why);
        g_assert_cmpstr(error->message, ==, expected);
}

static void test_forms(void) {
        assert_argv("pc1", (const char *const[]) { "ssh", "-xT", "--", "pc1", "systemd-stdio-bridge", NULL });
        assert_argv("lab@pc1.example.org",
                    (const char *const[]) { "ssh", "-xT", "--", "lab@pc1.example.org", "systemd-stdio-bridge", NULL });
        assert_argv("lab@pc1:2222", (const char *const[]) { "ssh", "-xT", "-p", "2222", "--", "lab@pc1",
                                                            "systemd-stdio-bridge", NULL });
        assert_argv("pc1/lab-container", (const char *const[]) { "ssh", "-xT", "--", "pc1", "systemd-stdio-bridge",
                                                                 "--machine=lab-container", NULL });
        assert_argv("root@192.168.1.20:22/c1", (const char *const[]) { "ssh", "-xT", "-p", "22", "--",
                                                                       "root@192.168.1.20", "systemd-stdio-bridge",
                                                                       "--machine=c1", NULL });
        /* An IPv6 address in brackets: its colons are not a port. */
        assert_argv("[fe80::1%eth0]:2222",
                    (const char *const[]) { "ssh", "-xT", "-p", "2222", "--", "fe80::1%eth0", "systemd-stdio-bridge",
                                            NULL });
        assert_argv("lab@[2001:db8::7]",
                    (const char *const[]) { "ssh", "-xT", "--", "lab@2001:db8::7", "systemd-stdio-bridge", NULL });
}

static void test_refused(void) {
        assert_refused("", "it is empty");
        assert_refused(NULL, "it is empty");
        /* ssh would read these as options (-oProxyCommand runs a command). */
        assert_refused("-oProxyCommand=touch /tmp/x", "a name starts with '-'");
        assert_refused("-oProxyCommand=x@pc1", "a name starts with '-'");
        assert_refused("lab@-pc1", "a name starts with '-'");
        assert_refused("pc1/-machine", "the machine must be a name of letters, digits, '.', '_' and '-'");
        assert_refused("@pc1", "the user is empty");
        assert_refused("lab@", "the host is empty");
        assert_refused(":22", "the host is empty");
        assert_refused("pc1:", "the port must be a number from 1 to 65535");
        assert_refused("pc1:0", "the port must be a number from 1 to 65535");
        assert_refused("pc1:65536", "the port must be a number from 1 to 65535");
        assert_refused("pc1:+22", "the port must be a number from 1 to 65535");
        assert_refused("pc1:ssh", "the port must be a number from 1 to 65535");
        assert_refused("pc1/", "the machine must be a name of letters, digits, '.', '_' and '-'");
        assert_refused("pc1/a b", "the machine must be a name of letters, digits, '.', '_' and '-'");
        assert_refused("pc1/../x", "the machine must be a name of letters, digits, '.', '_' and '-'");
        assert_refused("pc 1", "blanks and control characters are not allowed");
        assert_refused("pc1\n", "blanks and control characters are not allowed");
        assert_refused("[fe80::1", "'[' without ']'");
        assert_refused("[fe80::1]x", "text after ']'");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/panel-host/forms", test_forms);
        g_test_add_func("/panel-host/refused", test_refused);
        return g_test_run();
}
