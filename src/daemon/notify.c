/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <glib.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "notify.h"

#define STATUS_INTERVAL_USEC (250 * 1000)
#define QUEUE_MAX 64

struct Notifier {
        sd_event *event;
        int fd;                   /* connected, non-blocking; -1: no service manager */
        sd_event_source *writable; /* on while messages wait */
        sd_event_source *status_timer;
        sd_event_source *watchdog;
        usec_t watchdog_usec;
        GQueue *queue;            /* char*: messages not sent yet, in order */
        char *status;             /* a STATUS= text waiting for its turn */
        usec_t status_sent;       /* when the last one left */
};

static void update_writable(Notifier *n) {
        if (n->writable)
                (void) sd_event_source_set_enabled(n->writable, g_queue_is_empty(n->queue) ? SD_EVENT_OFF : SD_EVENT_ON);
}

/* Sends what waits, in order, until the socket is full. */
static void drain(Notifier *n) {
        while (!g_queue_is_empty(n->queue)) {
                const char *msg = g_queue_peek_head(n->queue);
                if (send(n->fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        /* The manager went away or refuses: nothing to wait for. */
                }
                g_free(g_queue_pop_head(n->queue));
        }
        update_writable(n);
}

static int on_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        drain(userdata);
        return 0;
}

/* A newer STATUS= or WATCHDOG=1 makes a waiting one pointless. */
static void drop_waiting(Notifier *n, const char *prefix) {
        for (GList *l = n->queue->head, *next; l; l = next) {
                next = l->next;
                if (g_str_has_prefix(l->data, prefix)) {
                        g_free(l->data);
                        g_queue_delete_link(n->queue, l);
                }
        }
}

void notifier_send(Notifier *n, const char *message) {
        if (!n || n->fd < 0)
                return;
        if (g_str_has_prefix(message, "STATUS="))
                drop_waiting(n, "STATUS=");
        else if (streq(message, "WATCHDOG=1"))
                drop_waiting(n, "WATCHDOG=1");
        /* A manager stalled for good must not cost unbounded memory. */
        if (g_queue_get_length(n->queue) >= QUEUE_MAX)
                g_free(g_queue_pop_head(n->queue));
        g_queue_push_tail(n->queue, g_strdup(message));
        drain(n);
}

static void status_now(Notifier *n) {
        g_autofree char *msg = g_strconcat("STATUS=", n->status, NULL);
        g_clear_pointer(&n->status, g_free);
        n->status_sent = now_monotonic();
        notifier_send(n, msg);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Notifier *n = userdata;
        if (n->status)
                status_now(n);
        return 0;
}

void notifier_status(Notifier *n, const char *text) {
        if (!n || n->fd < 0)
                return;
        g_free(n->status);
        n->status = g_strdup(text);
        usec_t due = usec_add(n->status_sent, STATUS_INTERVAL_USEC);
        if (now_monotonic() >= due || !n->status_timer) {
                status_now(n);
                return;
        }
        (void) sd_event_source_set_time(n->status_timer, due);
        (void) sd_event_source_set_enabled(n->status_timer, SD_EVENT_ONESHOT);
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        Notifier *n = userdata;
        notifier_send(n, "WATCHDOG=1");
        (void) sd_event_source_set_time(s, usec_add(now_monotonic(), n->watchdog_usec / 2));
        return 0;
}

void notifier_flush(Notifier *n) {
        if (!n || n->fd < 0)
                return;
        if (n->status)
                status_now(n);
        drain(n);
}

unsigned notifier_n_pending(const Notifier *n) {
        return n ? g_queue_get_length(n->queue) : 0;
}

static int connect_socket(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        if (len == 0 || len >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);
        if (path[0] == '@')
                sa.sun_path[0] = 0; /* abstract namespace */

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len)) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

int notifier_new(sd_event *event, Notifier **ret) {
        Notifier *n = g_new0(Notifier, 1);
        n->fd = -1;
        n->event = sd_event_ref(event);
        n->queue = g_queue_new();

        const char *path = getenv("NOTIFY_SOCKET");
        if (path) {
                int fd = connect_socket(path);
                if (fd < 0) {
                        notifier_free(n);
                        return fd;
                }
                n->fd = fd;
                int r = sd_event_add_io(event, &n->writable, fd, EPOLLOUT, on_writable, n);
                if (r >= 0)
                        r = sd_event_add_time(event, &n->status_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_status_timer, n);
                if (r < 0) {
                        notifier_free(n);
                        return r;
                }
                (void) sd_event_source_set_enabled(n->writable, SD_EVENT_OFF);
                (void) sd_event_source_set_enabled(n->status_timer, SD_EVENT_OFF);

                uint64_t wd = 0;
                if (sd_watchdog_enabled(false, &wd) > 0 && wd > 0) {
                        n->watchdog_usec = wd;
                        r = sd_event_add_time_relative(event, &n->watchdog, CLOCK_MONOTONIC, wd / 2, 0, on_watchdog, n);
                        if (r < 0) {
                                notifier_free(n);
                                return r;
                        }
                        (void) sd_event_source_set_enabled(n->watchdog, SD_EVENT_ON);
                }
        }
        *ret = n;
        return 0;
}

Notifier *notifier_free(Notifier *n) {
        if (!n)
                return NULL;
        sd_event_source_disable_unref(n->writable);
        sd_event_source_disable_unref(n->status_timer);
        sd_event_source_disable_unref(n->watchdog);
        sd_event_unref(n->event);
        if (n->fd >= 0)
                close(n->fd);
        g_queue_free_full(n->queue, g_free);
        g_free(n->status);
        g_free(n);
        return NULL;
}
