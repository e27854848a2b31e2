/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <poll.h>
#include <sys/eventfd.h>

#include "worker.h"
#include "util.h"

typedef struct Job {
        WorkerWorkFn work;
        void *data;
} Job;

struct Worker {
        char *name;
        sd_event_source *source;
        int efd;
        WorkerDoneFn done;
        void *userdata;

        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        GQueue todo;  /* Job*, protected by lock */
        GQueue done_q; /* Job*, protected by lock */
        bool quit;
        unsigned n_pending; /* loop side only */
};

static void *worker_thread(void *p) {
        Worker *w = p;

        /* Signals belong to the event loop thread. */
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);

        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->quit && g_queue_is_empty(&w->todo))
                        pthread_cond_wait(&w->cond, &w->lock);
                Job *j = g_queue_pop_head(&w->todo);
                if (!j)
                        break; /* quit and nothing left */
                pthread_mutex_unlock(&w->lock);

                j->work(j->data);

                pthread_mutex_lock(&w->lock);
                g_queue_push_tail(&w->done_q, j);
                uint64_t one = 1;
                (void) !write(w->efd, &one, sizeof one);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static void hand_back(Worker *w) {
        for (;;) {
                pthread_mutex_lock(&w->lock);
                Job *j = g_queue_pop_head(&w->done_q);
                pthread_mutex_unlock(&w->lock);
                if (!j)
                        return;
                w->n_pending--;
                void *data = j->data;
                g_free(j);
                w->done(data, w->userdata);
        }
}

static int on_eventfd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        uint64_t n;
        (void) !read(fd, &n, sizeof n);
        hand_back(w);
        return 0;
}

int worker_new(sd_event *event, const char *name, WorkerDoneFn done, void *userdata, Worker **ret) {
        Worker *w = g_new0(Worker, 1);
        int r;

        w->name = g_strdup(name);
        w->done = done;
        w->userdata = userdata;
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        g_queue_init(&w->todo);
        g_queue_init(&w->done_q);
        if (w->efd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = sd_event_add_io(event, &w->source, w->efd, EPOLLIN, on_eventfd, w);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(w->source, name);

        r = -pthread_create(&w->thread, NULL, worker_thread, w);
        if (r < 0)
                goto fail;
        w->started = true;
        (void) pthread_setname_np(w->thread, name);
        *ret = w;
        return 0;
fail:
        worker_free(w);
        return r;
}

void worker_drain(Worker *w) {
        while (w && w->n_pending > 0) {
                struct pollfd p = { .fd = w->efd, .events = POLLIN };
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        return;
                uint64_t n;
                (void) !read(w->efd, &n, sizeof n);
                hand_back(w);
        }
}

int worker_submit(Worker *w, WorkerWorkFn work, void *data) {
        Job *j = g_new(Job, 1);
        j->work = work;
        j->data = data;
        pthread_mutex_lock(&w->lock);
        g_queue_push_tail(&w->todo, j);
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        w->n_pending++;
        return 0;
}

unsigned worker_n_pending(const Worker *w) {
        return w->n_pending;
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        if (w->started) {
                worker_drain(w);
                pthread_mutex_lock(&w->lock);
                w->quit = true;
                pthread_cond_signal(&w->cond);
                pthread_mutex_unlock(&w->lock);
                pthread_join(w->thread, NULL);
        }
        sd_event_source_disable_unref(w->source);
        if (w->efd >= 0)
                close(w->efd);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        g_free(w->name);
        g_free(w);
        return NULL;
}
