/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The camera manager, event loop side (SPEC §4 ListCameras, §5 [Trigger]):
 * libgphoto2's lists loaded once, the table of cameras from Ports= (or USB
 * detection and hot-plug through sd-device for Ports=auto), reload, the
 * eventfd the camera threads answer through, start and stop. Fire is in
 * camera-fire.c, the camera threads in camera-worker.c. */

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "camera-internal.h"
#include "log.h"

#define DETECT_DELAY_USEC (700 * 1000)       /* after a USB event, let the device settle */
#define DETECT_RETRY_USEC (200 * 1000)       /* libgphoto2 busy (a camera connecting) */

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
                struct in_addr addr;
                uint16_t cmd, evt;
                bool dup = false;
                if (port_is_ptpip(*p) && !camera_parse_ptpip(*p, &addr, &cmd, &evt)) {
                        log_warning("[Trigger] Ports=%s: not an address libgphoto2 understands "
                                    "(ptpip:IPv4[:PORT]); ignored.", *p);
                        continue;
                }
                /* One camera per address: its sockets are told apart by it. */
                for (guint i = 0; i < out->len; i++) {
                        const char *q = ((Wanted *) out->pdata[i])->port;
                        struct in_addr a2;
                        uint16_t c2, e2;
                        dup = dup || streq(q, *p) ||
                              (port_is_ptpip(*p) && port_is_ptpip(q) && camera_parse_ptpip(q, &a2, &c2, &e2) &&
                               a2.s_addr == addr.s_addr && c2 == cmd);
                }
                if (dup) {
                        log_warning("[Trigger] Ports=%s: the same camera is listed twice; ignored.", *p);
                        continue;
                }
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

/* libgphoto2's detection costs (and, in 2.5.30, leaks 8 bytes per USB
 * device for each of its ~2,600 models), so only cameras trigger it: what
 * libgphoto2's udev rules mark (ID_GPHOTO2), a still-image interface, or a
 * device at one of our cameras' ports. */
static bool is_camera_event(CameraManager *cm, sd_device *d) {
        const char *v = NULL, *bus = NULL, *dev = NULL;

        if (sd_device_get_property_value(d, "ID_GPHOTO2", &v) >= 0 && !isempty(v))
                return true;
        if (sd_device_get_property_value(d, "ID_USB_INTERFACES", &v) >= 0 && v && strstr(v, ":06"))
                return true;
        if (sd_device_get_property_value(d, "BUSNUM", &bus) < 0 || sd_device_get_property_value(d, "DEVNUM", &dev) < 0)
                return false;
        g_autofree char *port = g_strdup_printf("usb:%03u,%03u", (unsigned) atoi(bus), (unsigned) atoi(dev));
        for (guint i = 0; i < cm->workers->len; i++)
                if (streq(((CameraWorker *) cm->workers->pdata[i])->port, port))
                        return true;
        return false;
}

static int on_usb_event(sd_device_monitor *mon, sd_device *d, void *userdata) {
        CameraManager *cm = userdata;
        const char *sysname = NULL;
        (void) sd_device_get_sysname(d, &sysname);
        if (!is_camera_event(cm, d)) {
                log_debug("USB device %s added or removed: not a camera.", sysname ?: "?");
                return 0;
        }
        log_debug("USB camera %s added or removed; looking for cameras.", sysname ?: "?");
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

bool manager_cameras_has_id(Manager *m, const char *id) {
        CameraManager *cm = m->cameras;
        bool found = false;
        for (size_t i = 0; cm && !found && i < cm->workers->len; i++) {
                CameraWorker *w = cm->workers->pdata[i];
                pthread_mutex_lock(&w->lock);
                found = streq(w->id ?: w->port, id);
                pthread_mutex_unlock(&w->lock);
        }
        return found;
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

void camera_manager_reap(CameraManager *cm) {
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

/* A worker answered, changed state or ended. */
static int on_notify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CameraManager *cm = userdata;
        eventfd_t v;
        (void) eventfd_read(fd, &v);
        camera_fire_notify(cm);
        camera_manager_reap(cm);
        return 0;
}

int manager_cameras_start(Manager *m) {
        CameraManager *cm = g_new0(CameraManager, 1);
        int r;

        cm->manager = m;
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
        camera_fire_abort(cm, "not answered: the daemon is stopping");
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
