/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The service manager's notification socket ($NOTIFY_SOCKET), written
 * without ever blocking the event loop: sd_notify() blocks while the socket's
 * queue is full (systemd busy or stalled). Messages that do not fit wait in
 * order and leave when the socket can take them; STATUS= is rate-limited and
 * only its latest text is kept; WATCHDOG=1 is sent from the loop itself, so a
 * stuck loop still misses its pings. Without $NOTIFY_SOCKET everything is a
 * no-op. */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "util.h"

typedef struct Notifier Notifier;

int notifier_new(sd_event *event, Notifier **ret);
Notifier *notifier_free(Notifier *n);

/* Queued in order behind what waits already. */
void notifier_send(Notifier *n, const char *message);
/* At most one STATUS= per interval; a newer text replaces one not sent yet. */
void notifier_status(Notifier *n, const char *text);
/* What could not leave yet, tried once more without waiting (shutdown). */
void notifier_flush(Notifier *n);
/* Messages waiting for the socket to take them. */
unsigned notifier_n_pending(const Notifier *n);
