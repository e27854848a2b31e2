/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The camera manager, event loop side (SPEC §4 Fire, ListCameras; §5
 * [Trigger]): the table of cameras from Ports= (or USB detection and
 * hot-plug for Ports=auto), Fire (arm the parked workers, open the shot,
 * release them together, collect their answers or give up at the
 * deadline), and the results handed to the bus. The worker threads are in
 * camera-worker.c; they talk back only through an eventfd. */

#include <sched.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "camera-internal.h"
#include "log.h"

#define FIRE_MARGIN_USEC (200 * 1000)        /* workers give up on their own first */
#define SETTLE_USEC (50 * 1000)              /* a camera finishing a check joins the Fire */
#define BARRIER_WAIT_USEC (200 * 1000)       /* every armed worker at the barrier */
#define DETECT_DELAY_USEC (700 * 1000)       /* after a USB event, let the device settle */
#define DETECT_RETRY_USEC (200 * 1000)       /* libgphoto2 busy (a camera connecting) */

typedef struct Fire {
        uint32_t seq;
        char shot_id[SHOT_ID_MAX];
        nsec_t t;
        usec_t released;
        double timeout_sec;
        size_t n, n_pending;
        CameraWorker **workers; /* NULL where the camera was not fired */
        FireResult *results;
        bool *answered;
        sd_event_source *timer;
        FireDoneFn done;
        void *userdata;
} Fire;

static void reap_retired(CameraManager *cm);

/* ---- workers ---- */

static CameraWorker *cam_worker_new(CameraManager *cm, const char *port, const CameraAbilities *a) {
        CameraWorker *w = g_new0(CameraWorker, 1);
        pthread_condattr_t ca;

        w->cm = cm;
        w->number = cm->next_number++;
        w->port = g_strdup(port);
        if (a)
                w->abilities = *a;
        w->set_clock = cm->manager->config->set_clock;
        w->state = g_strdup("connecting");
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        return w;
}

static void cam_worker_free(CameraWorker *w) {
        if (!w)
                return;
        g_free(w->port);
        g_free(w->id);
        g_free(w->model);
        g_free(w->state);
        g_free(w->download_root);
        fire_result_clear(&w->result);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        g_free(w);
}

static void cam_worker_request_stop(CameraWorker *w) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        atomic_store(&w->quit, true);
        /* A parked camera closes its session cleanly; one inside libgphoto2
         * (capturing, checking) may be stuck: cut its link. */
        if (w->phase != PHASE_PARKED)
                camera_worker_abort_io(w);
        camera_worker_wake(w);
        pthread_mutex_unlock(&w->lock);
}

/* Gone from the configuration: its thread ends on its own (bounded by
 * libgphoto2's timeouts) and is joined once it says so. */
static void cam_worker_retire(CameraManager *cm, CameraWorker *w) {
        log_info("Camera %s no longer configured; disconnecting.", w->port);
        w->retired = true;
        cam_worker_request_stop(w);
        g_ptr_array_add(cm->retired, w);
}

static void cam_worker_join(CameraWorker *w) {
        if (w->started)
                pthread_join(w->thread, NULL);
        w->started = false;
}

/* ---- libgphoto2's process-wide state ---- */

/* libgphoto2 keeps its settings (the PTP/IP GUID a camera pairs with) in
 * $HOME/.gphoto/settings. systemd sets HOME from the service user
 * (/var/lib/shotsync, the state directory); started by hand without one, use
 * the state directory too rather than "(null)/.gphoto" relative to "/". */
static void ensure_home(Manager *m) {
        const char *home = getenv("HOME");
        struct stat st;

        if (!isempty(home) && !streq(home, "/") && stat(home, &st) == 0 && S_ISDIR(st.st_mode) &&
            access(home, W_OK) == 0)
                return;
        if (isempty(m->state_dir))
                return;
        log_info("HOME is %s%s%s; libgphoto2 keeps its settings in %s/.gphoto.", home ? "\"" : "unset",
                 home ?: "", home ? "\", not a writable folder" : "", m->state_dir);
        /* Before any camera thread exists. */
        setenv("HOME", m->state_dir, 1);
}

/* The PTP/IP GUID is set once here rather than by the first camera to
 * connect: libgphoto2 re-reads its settings file on every lookup while it
 * holds no setting, and every capture looks settings up, from every camera
 * thread at once. */
static void ensure_guid(void) {
        char buf[1024] = "";
        (void) gp_setting_get((char *) "ptp2_ip", (char *) "guid", buf);
        if (strlen(buf) == 47)
                return;
        GString *g = g_string_new(NULL);
        for (int i = 0; i < 16; i++)
                g_string_append_printf(g, "%s%02x", i ? ":" : "", g_random_int_range(0, 256));
        (void) gp_setting_set((char *) "ptp2_ip", (char *) "guid", g->str);
        g_string_free(g, true);
}

static int ensure_gphoto(CameraManager *cm) {
        int r;

        if (cm->gphoto_ready)
                return 0;
        ensure_home(cm->manager);
        camera_keep_fd0();

        GPContext *ctx = gp_context_new();
        pthread_mutex_lock(&gphoto_lock);
        r = gp_abilities_list_new(&cm->abilities);
        if (r >= 0)
                r = gp_abilities_list_load(cm->abilities, ctx);
        if (r >= 0)
                r = gp_port_info_list_new(&cm->portinfo);
        if (r >= 0)
                r = gp_port_info_list_load(cm->portinfo);
        if (r >= 0)
                ensure_guid();
        pthread_mutex_unlock(&gphoto_lock);
        gp_context_unref(ctx);
        if (r < 0) {
                log_error("Cannot load libgphoto2's camera drivers and ports: %s.", gp_result_as_string(r));
                return -EIO;
        }
        log_debug("libgphoto2: %d camera models, %d ports.", gp_abilities_list_count(cm->abilities),
                  gp_port_info_list_count(cm->portinfo));
        cm->gphoto_ready = true;
        return 0;
}

/* ---- the camera table ---- */

typedef struct Wanted {
        char *port;
        CameraAbilities abilities; /* model[0] == 0: detect when connecting */
} Wanted;

static void wanted_free(void *p) {
        Wanted *x = p;
        g_free(x->port);
        g_free(x);
}

/* Ports=auto: the USB cameras libgphoto2 recognises now. Under gphoto_lock
 * taken without waiting: NULL when a camera is connecting meanwhile. */
static GPtrArray *detect_usb(CameraManager *cm, bool *ret_busy) {
        GPtrArray *out = NULL;
        CameraList *list = NULL;
        GPPortInfoList *il = NULL;

        *ret_busy = false;
        if (pthread_mutex_trylock(&gphoto_lock) != 0) {
                *ret_busy = true;
                return NULL;
        }
        GPContext *ctx = gp_context_new();
        int r = gp_port_info_list_new(&il);
        if (r >= 0)
                r = gp_port_info_list_load(il);
        if (r >= 0) {
                gp_port_info_list_free(cm->portinfo);
                cm->portinfo = TAKE_PTR(il);
                r = gp_list_new(&list);
        }
        if (r >= 0)
                r = gp_abilities_list_detect(cm->abilities, cm->portinfo, list, ctx);
        if (r >= 0) {
                out = g_ptr_array_new_with_free_func(wanted_free);
                for (int i = 0; i < gp_list_count(list); i++) {
                        const char *model = NULL, *path = NULL;
                        if (gp_list_get_name(list, i, &model) < 0 || gp_list_get_value(list, i, &path) < 0 ||
                            !port_is_usb(path) || streq(path, "usb:"))
                                continue;
                        int k = gp_abilities_list_lookup_model(cm->abilities, model);
                        if (k < 0)
                                continue;
                        Wanted *x = g_new0(Wanted, 1);
                        x->port = g_strdup(path);
                        if (gp_abilities_list_get_abilities(cm->abilities, k, &x->abilities) < 0) {
                                wanted_free(x);
                                continue;
                        }
                        g_ptr_array_add(out, x);
                }
        } else
                log_warning("USB camera detection failed: %s.", gp_result_as_string(r));
        if (il)
                gp_port_info_list_free(il);
        if (list)
                gp_list_free(list);
        pthread_mutex_unlock(&gphoto_lock);
        gp_context_unref(ctx);
        return out;
}

static GPtrArray *configured_ports(CameraManager *cm) {
        GPtrArray *out = g_ptr_array_new_with_free_func(wanted_free);
        CameraAbilities ptpip = {};
        bool have_ptpip = false;

        for (char **p = cm->manager->config->ports; p && *p; p++) {
                bool dup = false;
                for (guint i = 0; i < out->len; i++)
                        dup = dup || streq(((Wanted *) out->pdata[i])->port, *p);
                if (dup)
                        continue;
                Wanted *x = g_new0(Wanted, 1);
                x->port = g_strdup(*p);
                if (port_is_ptpip(*p)) {
                        if (!have_ptpip) {
                                pthread_mutex_lock(&gphoto_lock);
                                int k = gp_abilities_list_lookup_model(cm->abilities, "PTP/IP Camera");
                                if (k >= 0 && gp_abilities_list_get_abilities(cm->abilities, k, &ptpip) >= 0)
                                        have_ptpip = true;
                                pthread_mutex_unlock(&gphoto_lock);
                                if (!have_ptpip)
                                        log_error("libgphoto2 has no \"PTP/IP Camera\" driver; %s cannot be used.",
                                                  *p);
                        }
                        if (!have_ptpip) {
                                wanted_free(x);
                                continue;
                        }
                        x->abilities = ptpip;
                } else if (!port_is_usb(*p)) {
                        log_warning("[Trigger] Ports=%s: only usb: and ptpip: ports are supported; ignored.", *p);
                        wanted_free(x);
                        continue;
                }
                g_ptr_array_add(out, x);
        }
        return out;
}

/* Makes the table match `wanted`: keeps the workers of ports still wanted
 * (in the new order), retires the others, starts the new ones. */
static void apply_ports(CameraManager *cm, GPtrArray *wanted) {
        GPtrArray *next = g_ptr_array_new();
        bool set_clock = cm->manager->config->set_clock;

        for (guint i = 0; i < wanted->len; i++) {
                Wanted *x = wanted->pdata[i];
                CameraWorker *w = NULL;
                for (guint j = 0; j < cm->workers->len; j++) {
                        CameraWorker *o = cm->workers->pdata[j];
                        if (o && streq(o->port, x->port)) {
                                w = o;
                                cm->workers->pdata[j] = NULL;
                                break;
                        }
                }
                if (w) {
                        pthread_mutex_lock(&w->lock);
                        w->set_clock = set_clock;
                        w->kick = true; /* retry a failing one now */
                        camera_worker_wake(w);
                        pthread_mutex_unlock(&w->lock);
                } else {
                        w = cam_worker_new(cm, x->port, &x->abilities);
                        int r = camera_worker_start(w);
                        if (r < 0) {
                                log_error_errno(r, "Cannot start a thread for camera %s: %m", x->port);
                                cam_worker_free(w);
                                continue;
                        }
                        log_info("Camera at %s%s%s%s: connecting.", x->port, x->abilities.model[0] ? " (" : "",
                                 x->abilities.model, x->abilities.model[0] ? ")" : "");
                }
                g_ptr_array_add(next, w);
        }
        for (guint j = 0; j < cm->workers->len; j++)
                if (cm->workers->pdata[j])
                        cam_worker_retire(cm, cm->workers->pdata[j]);
        g_ptr_array_free(cm->workers, true);
        cm->workers = next;
}

static int on_detect_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void schedule_detect(CameraManager *cm, usec_t delay) {
        Manager *m = cm->manager;
        usec_t when = now_monotonic() + delay;

        if (cm->detect_timer) {
                (void) sd_event_source_set_time(cm->detect_timer, when);
                (void) sd_event_source_set_enabled(cm->detect_timer, SD_EVENT_ONESHOT);
                return;
        }
        if (sd_event_add_time(m->event, &cm->detect_timer, CLOCK_MONOTONIC, when, 0, on_detect_timer, cm) >= 0)
                (void) sd_event_source_set_description(cm->detect_timer, "camera-detect");
}

static void detect_and_apply(CameraManager *cm) {
        bool busy;
        GPtrArray *wanted = detect_usb(cm, &busy);
        if (busy) {
                schedule_detect(cm, DETECT_RETRY_USEC);
                return;
        }
        if (wanted) {
                apply_ports(cm, wanted);
                g_ptr_array_free(wanted, true);
        }
}

static int on_detect_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CameraManager *cm = userdata;
        if (!cm->stopping && cm->manager->config->ports_auto)
                detect_and_apply(cm);
        return 0;
}

static int on_usb_event(sd_device_monitor *mon, sd_device *d, void *userdata) {
        CameraManager *cm = userdata;
        const char *sysname = NULL;
        (void) sd_device_get_sysname(d, &sysname);
        log_debug("USB device %s added or removed; looking for cameras.", sysname ?: "?");
        schedule_detect(cm, DETECT_DELAY_USEC);
        return 0;
}

static void monitor_usb(CameraManager *cm, bool on) {
        Manager *m = cm->manager;
        int r;

        if (!on) {
                cm->monitor = sd_device_monitor_unref(cm->monitor);
                return;
        }
        if (cm->monitor)
                return;
        r = sd_device_monitor_new(&cm->monitor);
        if (r >= 0)
                r = sd_device_monitor_filter_add_match_subsystem_devtype(cm->monitor, "usb", "usb_device");
        if (r >= 0)
                r = sd_device_monitor_attach_event(cm->monitor, m->event);
        if (r >= 0)
                (void) sd_device_monitor_set_description(cm->monitor, "usb-cameras");
        if (r >= 0)
                r = sd_device_monitor_start(cm->monitor, on_usb_event, cm);
        if (r < 0) {
                log_warning_errno(r, "Cannot watch USB hot-plug (%m); cameras plugged in later need a Reload.");
                cm->monitor = sd_device_monitor_unref(cm->monitor);
        }
}

static void apply_config(CameraManager *cm) {
        Config *c = cm->manager->config;
        bool any = c->ports_auto || (c->ports && c->ports[0]);

        if (any && ensure_gphoto(cm) < 0)
                any = false;
        monitor_usb(cm, any && c->ports_auto);
        if (any && c->ports_auto) {
                detect_and_apply(cm);
                return;
        }
        GPtrArray *wanted = any ? configured_ports(cm) : g_ptr_array_new_with_free_func(wanted_free);
        apply_ports(cm, wanted);
        g_ptr_array_free(wanted, true);
}

/* ---- Fire ---- */

static void fire_free(Fire *f) {
        if (!f)
                return;
        sd_event_source_disable_unref(f->timer);
        if (f->results)
                fire_results_free(f->results, f->n);
        g_free(f->workers);
        g_free(f->answered);
        g_free(f);
}

static void fire_log(Fire *f) {
        GString *s = g_string_new(NULL);
        size_t ok = 0;
        for (size_t i = 0; i < f->n; i++) {
                FireResult *r = &f->results[i];
                if (streq(r->status, "ok"))
                        ok++;
                g_string_append_printf(s, "%s%s %s", i ? "; " : "", r->camera, r->status);
                if (streq(r->status, "ok") || f->workers[i])
                        g_string_append_printf(s, " %" PRIu64 " µs", r->latency_usec);
                if (!streq(r->status, "ok") && !isempty(r->message))
                        g_string_append_printf(s, " (%s)", r->message);
        }
        log_fields(ok == f->n ? LOG_INFO : LOG_WARNING, 0, f->shot_id, NULL, NULL,
                   "Fire %s: %zu of %zu camera%s ok: %s.", f->shot_id, ok, f->n, f->n == 1 ? "" : "s", s->str);
        g_string_free(s, true);
}

/* Takes the answers the workers left in their slots. */
static void fire_collect(CameraManager *cm) {
        Fire *f = cm->fire;
        for (size_t i = 0; f && i < f->n; i++) {
                CameraWorker *w = f->workers[i];
                if (!w || f->answered[i])
                        continue;
                pthread_mutex_lock(&w->lock);
                if (w->result_seq == f->seq) {
                        fire_result_clear(&f->results[i]);
                        f->results[i] = w->result;
                        w->result = (FireResult) {};
                        w->result_seq = 0;
                        f->answered[i] = true;
                        f->n_pending--;
                }
                pthread_mutex_unlock(&w->lock);
        }
}

/* Every camera answered, or the deadline passed (stuck = true), or the
 * daemon stops: done() is called, exactly once. */
static void fire_finish(CameraManager *cm, const char *why) {
        Fire *f = TAKE_PTR(cm->fire);

        for (size_t i = 0; i < f->n; i++) {
                CameraWorker *w = f->workers[i];
                if (!w)
                        continue;
                w->in_fire = false;
                if (f->answered[i])
                        continue;
                FireResult *r = &f->results[i];
                g_free(r->status);
                r->status = g_strdup("error");
                g_free(r->message);
                r->message = g_strdup_printf("%s", why);
                pthread_mutex_lock(&w->lock);
                if (w->fire_seq == f->seq && w->phase == PHASE_ARMED) {
                        /* Still inside libgphoto2: not ready until it comes
                         * back; cut its link so that it does so now. */
                        w->overdue = true;
                        camera_worker_abort_io(w);
                }
                pthread_mutex_unlock(&w->lock);
        }
        fire_log(f);
        f->done(cm->manager, f->shot_id, f->results, f->n, f->userdata);
        fire_free(f);
        reap_retired(cm);
}

static int on_fire_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        CameraManager *cm = userdata;
        if (!cm->fire)
                return 0;
        fire_collect(cm);
        g_autofree char *why = g_strdup_printf("timeout: no answer within %.3g s", cm->fire->timeout_sec);
        fire_finish(cm, why);
        return 0;
}

static int on_notify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CameraManager *cm = userdata;
        eventfd_t v;
        (void) eventfd_read(fd, &v);

        if (cm->fire) {
                fire_collect(cm);
                if (cm->fire->n_pending == 0)
                        fire_finish(cm, "no answer");
        }
        reap_retired(cm);
        return 0;
}

static char *not_fired_reason(CameraWorker *w) {
        pthread_mutex_lock(&w->lock);
        char *s;
        if (w->phase == PHASE_ARMED)
                s = g_strdup(w->overdue ? "not fired: still stuck in the previous capture"
                                        : "not fired: busy with the previous capture");
        else if (w->open)
                s = g_strdup("not fired: busy checking the camera");
        else
                s = g_strdup_printf("not fired: %s", w->state ?: "not connected");
        pthread_mutex_unlock(&w->lock);
        return s;
}

/* Arms every parked worker; one that is just checking its link (a few ms)
 * is waited for a little. Returns the number armed. */
static size_t arm_workers(CameraManager *cm, uint32_t seq, usec_t timeout, const char *root, bool *armed) {
        size_t n = cm->workers->len, n_armed = 0;
        usec_t until = now_monotonic() + SETTLE_USEC;

        for (;;) {
                size_t settling = 0;
                for (size_t i = 0; i < n; i++) {
                        CameraWorker *w = cm->workers->pdata[i];
                        if (armed[i])
                                continue;
                        pthread_mutex_lock(&w->lock);
                        if (w->phase == PHASE_PARKED) {
                                w->phase = PHASE_ARMED;
                                w->fire_seq = seq;
                                w->fire_timeout = timeout;
                                g_free(w->download_root);
                                w->download_root = g_strdup(root);
                                atomic_store_explicit(&w->at_barrier, 0, memory_order_relaxed);
                                camera_worker_wake(w);
                                armed[i] = true;
                                n_armed++;
                        } else if (w->phase == PHASE_IDLE && w->open)
                                settling++;
                        else if (w->phase == PHASE_IDLE && !w->open) {
                                w->kick = true; /* backing off: try again now */
                                camera_worker_wake(w);
                        }
                        pthread_mutex_unlock(&w->lock);
                }
                if (settling == 0 || now_monotonic() >= until)
                        return n_armed;
                usleep(200);
        }
}

/* Until every armed worker waits at the barrier (or a bound: one that is
 * not there yet still passes through, late). */
static void wait_at_barrier(CameraManager *cm, uint32_t seq, const bool *armed) {
        usec_t start = now_monotonic();
        for (unsigned spins = 0;; spins++) {
                bool all = true;
                for (size_t i = 0; all && i < cm->workers->len; i++)
                        if (armed[i]) {
                                CameraWorker *w = cm->workers->pdata[i];
                                all = atomic_load_explicit(&w->at_barrier, memory_order_acquire) == seq;
                        }
                if (all)
                        return;
                usec_t now = now_monotonic();
                if (now - start > BARRIER_WAIT_USEC) {
                        log_warning("Fire: a camera thread did not reach the barrier in time; firing anyway.");
                        return;
                }
                if (spins < 1000)
                        sched_yield();
                else
                        usleep(50);
        }
}

int manager_cameras_fire(Manager *m, FireDoneFn done, void *userdata) {
        CameraManager *cm = m->cameras;
        int r;

        if (!cm || cm->stopping || cm->workers->len == 0)
                return -ENODEV;
        if (cm->fire)
                return -EBUSY;

        size_t n = cm->workers->len;
        uint32_t seq = ++cm->seq ?: ++cm->seq;
        usec_t timeout = (usec_t) (m->config->capture_timeout_sec * USEC_PER_SEC);
        g_autofree bool *armed = g_new0(bool, n);

        size_t n_armed = arm_workers(cm, seq, timeout, m->config->download ? m->config->download_root : NULL, armed);
        if (n_armed == 0)
                return -ENODEV;
        wait_at_barrier(cm, seq, armed);

        /* The fire instant: every armed worker is parked at the barrier. */
        nsec_t t = now_realtime();
        Shot *shot = NULL;
        r = manager_fire_shot(m, t, &shot);
        if (r < 0) {
                atomic_store_explicit(&cm->cancelled, seq, memory_order_relaxed);
                camera_barrier_release(cm, seq);
                return log_error_errno(r, "Fire: cannot open a shot: %m");
        }
        atomic_store_explicit(&cm->fire_time, t, memory_order_relaxed);
        camera_barrier_release(cm, seq);
        if (cm->yield)
                sched_yield();

        /* Off the critical path from here on. */
        Fire *f = g_new0(Fire, 1);
        f->seq = seq;
        g_strlcpy(f->shot_id, shot->id, sizeof f->shot_id);
        f->t = t;
        f->released = (usec_t) (atomic_load(&cm->released_ns) / 1000);
        f->timeout_sec = m->config->capture_timeout_sec;
        f->n = n;
        f->workers = g_new0(CameraWorker *, n);
        f->results = g_new0(FireResult, n);
        f->answered = g_new0(bool, n);
        f->done = done;
        f->userdata = userdata;
        for (size_t i = 0; i < n; i++) {
                CameraWorker *w = cm->workers->pdata[i];
                FireResult *res = &f->results[i];
                pthread_mutex_lock(&w->lock);
                res->camera = g_strdup(w->id ?: w->port);
                pthread_mutex_unlock(&w->lock);
                res->port = g_strdup(w->port);
                if (armed[i]) {
                        f->workers[i] = w;
                        w->in_fire = true;
                        f->n_pending++;
                        res->status = g_strdup("error");
                        res->message = g_strdup("no answer");
                } else {
                        res->status = g_strdup("error");
                        res->message = not_fired_reason(w);
                }
        }
        r = sd_event_add_time(m->event, &f->timer, CLOCK_MONOTONIC,
                              usec_add(usec_add(f->released, timeout), FIRE_MARGIN_USEC), 0, on_fire_deadline, cm);
        if (r < 0)
                log_warning_errno(r, "Fire: cannot arm its deadline (%m); waiting for every camera.");
        else
                (void) sd_event_source_set_description(f->timer, "fire-deadline");
        cm->fire = f;
        log_fields(LOG_DEBUG, 0, f->shot_id, NULL, NULL, "Fire %s: %zu of %zu camera%s released.", f->shot_id, n_armed,
                   n, n == 1 ? "" : "s");
        /* Answers that came before the Fire existed are in the eventfd. */
        return 0;
}

void fire_results_free(FireResult *r, size_t n) {
        for (size_t i = 0; r && i < n; i++)
                fire_result_clear(&r[i]);
        g_free(r);
}

/* ---- ListCameras ---- */

CameraInfo **manager_cameras_list(Manager *m) {
        CameraManager *cm = m->cameras;
        size_t n = cm ? cm->workers->len : 0;
        CameraInfo **l = g_new0(CameraInfo *, n + 1);

        for (size_t i = 0; i < n; i++) {
                CameraWorker *w = cm->workers->pdata[i];
                CameraInfo *c = l[i] = g_new0(CameraInfo, 1);
                pthread_mutex_lock(&w->lock);
                c->id = g_strdup(w->id ?: w->port);
                c->model = g_strdup(w->model ?: w->abilities.model);
                c->port = g_strdup(w->port);
                if (w->phase == PHASE_ARMED)
                        c->state = g_strdup(w->overdue ? "error: capture timed out; waiting for the camera to answer"
                                                       : "busy");
                else
                        c->state = g_strdup(w->state ?: "connecting");
                pthread_mutex_unlock(&w->lock);
        }
        return l;
}

void camera_info_list_free(CameraInfo **l) {
        for (CameraInfo **i = l; i && *i; i++) {
                g_free((*i)->id);
                g_free((*i)->model);
                g_free((*i)->port);
                g_free((*i)->state);
                g_free(*i);
        }
        g_free(l);
}

unsigned manager_cameras_count(Manager *m) {
        return m->cameras ? m->cameras->workers->len : 0;
}

/* ---- life cycle ---- */

static void reap_retired(CameraManager *cm) {
        for (guint i = 0; i < cm->retired->len;) {
                CameraWorker *w = cm->retired->pdata[i];
                pthread_mutex_lock(&w->lock);
                bool exited = w->exited;
                pthread_mutex_unlock(&w->lock);
                if (!exited || w->in_fire) {
                        i++;
                        continue;
                }
                cam_worker_join(w);
                cam_worker_free(w);
                g_ptr_array_remove_index(cm->retired, i);
        }
}

int manager_cameras_start(Manager *m) {
        CameraManager *cm = g_new0(CameraManager, 1);
        int r;

        cm->manager = m;
        { const char *e = getenv("SHOTSYNC_BARRIER_SPIN_USEC"); if (e) cm->spin_ns = atoll(e) * 1000; } /* XXX experiment */
        { const char *e = getenv("SHOTSYNC_FIFO"); cm->fifo = e && atoi(e); } /* XXX experiment */
        { const char *e = getenv("SHOTSYNC_YIELD"); cm->yield = e && atoi(e); } /* XXX experiment */
        cm->workers = g_ptr_array_new();
        cm->retired = g_ptr_array_new();
        cm->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (cm->efd < 0) {
                r = log_error_errno(errno, "Cannot create an eventfd for the cameras: %m");
                goto fail;
        }
        r = sd_event_add_io(m->event, &cm->efd_source, cm->efd, EPOLLIN, on_notify, cm);
        if (r < 0) {
                log_error_errno(r, "Cannot watch the cameras' eventfd: %m");
                goto fail;
        }
        (void) sd_event_source_set_description(cm->efd_source, "cameras");
        m->cameras = cm;
        apply_config(cm);
        return 0;
fail:
        sd_event_source_disable_unref(cm->efd_source);
        if (cm->efd >= 0)
                close(cm->efd);
        g_ptr_array_free(cm->workers, true);
        g_ptr_array_free(cm->retired, true);
        g_free(cm);
        return r;
}

void manager_cameras_reload(Manager *m) {
        if (m->cameras && !m->cameras->stopping)
                apply_config(m->cameras);
}

/* Ends every thread: each is told to stop, its link is cut, and it is
 * joined; libgphoto2's own timeouts bound the wait. A running Fire is
 * answered first. */
void manager_cameras_stop(Manager *m) {
        CameraManager *cm = m->cameras;
        if (!cm || cm->stopping)
                return;
        cm->stopping = true;
        cm->monitor = sd_device_monitor_unref(cm->monitor);
        cm->detect_timer = sd_event_source_disable_unref(cm->detect_timer);

        for (guint i = 0; i < cm->workers->len; i++)
                cam_worker_request_stop(cm->workers->pdata[i]);
        if (cm->fire) {
                fire_collect(cm);
                fire_finish(cm, "not answered: the daemon is stopping");
        }
        for (guint i = 0; i < cm->workers->len; i++)
                cam_worker_join(cm->workers->pdata[i]);
        for (guint i = 0; i < cm->retired->len; i++)
                cam_worker_join(cm->retired->pdata[i]);
        for (guint i = 0; i < cm->workers->len; i++)
                cam_worker_free(cm->workers->pdata[i]);
        for (guint i = 0; i < cm->retired->len; i++)
                cam_worker_free(cm->retired->pdata[i]);
        g_ptr_array_set_size(cm->workers, 0);
        g_ptr_array_set_size(cm->retired, 0);
}

void manager_cameras_free(Manager *m) {
        CameraManager *cm = m->cameras;
        if (!cm)
                return;
        manager_cameras_stop(m);
        sd_event_source_disable_unref(cm->efd_source);
        close(cm->efd);
        if (cm->gphoto_ready) {
                pthread_mutex_lock(&gphoto_lock);
                gp_abilities_list_free(cm->abilities);
                gp_port_info_list_free(cm->portinfo);
                pthread_mutex_unlock(&gphoto_lock);
        }
        g_ptr_array_free(cm->workers, true);
        g_ptr_array_free(cm->retired, true);
        g_free(cm);
        m->cameras = NULL;
}
