/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A thread that runs blocking jobs (disk, scans) in order and hands each one
 * back to the event loop through an eventfd watched by sd-event. The loop
 * side never blocks; the thread side never touches sd-event or sd-bus. */

#include <systemd/sd-event.h>

typedef struct Worker Worker;

/* Runs in the worker thread. */
typedef void (*WorkerWorkFn)(void *data);
/* Runs in the event loop once the work is done; owns data from then on. */
typedef void (*WorkerDoneFn)(void *data, void *userdata);

int worker_new(sd_event *event, const char *name, WorkerDoneFn done, void *userdata, Worker **ret);
/* Stops after the queued jobs ran; their done callbacks are called. */
Worker *worker_free(Worker *w);

int worker_submit(Worker *w, WorkerWorkFn work, void *data);
unsigned worker_n_pending(const Worker *w); /* submitted and not yet handed back */
/* Blocks until every submitted job is done and handed back (shutdown). */
void worker_drain(Worker *w);
