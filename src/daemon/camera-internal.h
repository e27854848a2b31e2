/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between the camera manager's files: camera.c (the camera table,
 * libgphoto2's lists, USB hot-plug, life cycle), camera-fire.c (Fire: the
 * loop's side — arm, barrier, cork, results, deadline — and the camera
 * thread's — capture, wait, download) and camera-worker.c (the camera
 * thread: connect, identity, clock, checks, reconnect; PTP/IP workarounds).
 *
 * Ownership: the loop thread owns CameraManager and creates, retires and
 * frees CameraWorkers. A worker thread touches only its own Camera and
 * GPContext, the fields of its CameraWorker marked "lock", and the barrier
 * word. libgphoto2's process-wide state (module loading, the abilities and
 * port lists, the settings cache) is touched only under gphoto_lock. */

#include <glib.h>
#include <netinet/in.h>
#include <gphoto2/gphoto2.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <systemd/sd-device.h>

#include "camera.h"

typedef enum WorkerPhase {
        PHASE_IDLE,   /* connecting, backing off, checking: not at the barrier */
        PHASE_PARKED, /* camera open, waiting for a Fire or the next check */
        PHASE_ARMED,  /* chosen for a Fire: at the barrier, then capturing */
} WorkerPhase;

/* A socket of an open PTP/IP camera, so that a stuck read can be cut short. */
typedef struct CameraSocket {
        int fd;
        ino_t ino;
} CameraSocket;

typedef struct CameraManager CameraManager;
typedef struct CameraWorker CameraWorker;

struct CameraWorker {
        CameraManager *cm;
        unsigned number;           /* for the thread's name */
        char *port;                /* gphoto2 port path, immutable */
        CameraAbilities abilities; /* immutable; model[0] == 0: detect at connect (explicit usb:) */

        pthread_t thread;
        bool started;

        pthread_mutex_t lock;
        pthread_cond_t cond;       /* CLOCK_MONOTONIC */
        /* lock: */
        WorkerPhase phase;
        bool stop;                 /* end the thread */
        bool kick;                 /* stop backing off, connect now */
        bool exited;               /* the thread is done; join it */
        bool open;                 /* the camera is connected */
        bool set_clock;            /* [Trigger] SetClock=, as of the last (re)load */
        char *id;                  /* serial, or the port; NULL until connected once */
        char *model;
        char *state;               /* "connecting", "ready", "error: ..." */
        bool overdue;              /* the Fire it serves gave up on it */
        /* The Fire it is armed for or serves: */
        uint32_t fire_seq;
        usec_t fire_timeout;       /* µs after the release */
        char *download_root;       /* NULL: leave the images on the camera */
        /* Its answer: */
        uint32_t result_seq;       /* == fire_seq once answered */
        FireResult result;

        CameraSocket socks[4];     /* lock: PTP/IP: the open camera's sockets */
        size_t n_socks;            /* lock */

        atomic_bool quit;          /* == stop, readable without the lock */

        /* Loop thread only: */
        bool in_fire;              /* referenced by the running Fire */
        bool retired;              /* gone from the configuration */

        /* Its own thread only: */
        CameraAbilities detected;  /* explicit usb: port: the model found there */
        Camera *camera;
        GPContext *context;
        char last_error[256];      /* last message libgphoto2 reported on context */
        _Atomic uint32_t at_barrier; /* fire_seq once waiting at the barrier */
};

struct CameraManager {
        Manager *manager;
        GPtrArray *workers; /* CameraWorker*, in configuration (or detection) order */
        GPtrArray *retired; /* CameraWorker* whose thread is still ending */
        unsigned next_number;

        int efd; /* workers → loop: a result, a state change, an exit */
        sd_event_source *efd_source;

        /* libgphoto2's lists, loaded once; only under gphoto_lock. */
        bool gphoto_ready;
        CameraAbilitiesList *abilities;
        GPPortInfoList *portinfo;

        /* Ports=auto: USB hot-plug. */
        sd_device_monitor *monitor;
        sd_event_source *detect_timer;

        /* The barrier: workers armed for Fire number seq wait until go == seq. */
        _Atomic uint32_t go;
        _Atomic int64_t released_ns; /* CLOCK_MONOTONIC instant of the last release */
        _Atomic int64_t fire_time;   /* CLOCK_REALTIME fire instant of the last release */
        _Atomic uint32_t cancelled;  /* seq of a Fire called off after arming */
        uint32_t seq;
        atomic_bool rt_denied;       /* SCHED_FIFO refused once: do not ask again */

        struct Fire *fire; /* the running Fire, or NULL */
        bool stopping;
};

/* Every process-wide libgphoto2 operation (camera init/exit/free, list
 * loading, detection, port library loading, settings) runs under it. */
extern pthread_mutex_t gphoto_lock;

/* camera.c */
/* Joins and frees retired workers whose thread has ended. */
void camera_manager_reap(CameraManager *cm);

/* camera-fire.c */
/* Something came through the eventfd: collect answers, maybe finish. */
void camera_fire_notify(CameraManager *cm);
/* Finishes the running Fire now (the daemon stops). */
void camera_fire_abort(CameraManager *cm, const char *why);

/* The camera's thread, in camera-fire.c: released at the barrier, fires,
 * waits, downloads, answers. Returns true when the camera must be
 * re-opened. */
bool camera_worker_fire(CameraWorker *w);
/* Wakes every worker waiting at the barrier. */
void camera_barrier_release(CameraManager *cm, uint32_t seq);

/* camera-worker.c */
static inline bool camera_worker_should_stop(CameraWorker *w) {
        return atomic_load_explicit(&w->quit, memory_order_relaxed);
}
/* libgphoto2's error, with what it told the worker's context. */
char *camera_gp_error_text(CameraWorker *w, int r);
/* Reads and drops pending events; < 0: the link is gone. */
int camera_worker_drain_events(CameraWorker *w, unsigned max);
/* Real-time priority for the calling thread around the critical path, when
 * the service may have it (LimitRTPRIO=, no RestrictRealtime=); after the
 * first refusal it is not asked for again. */
typedef struct CameraSched {
        bool changed;
        int policy;
        struct sched_param param;
} CameraSched;
void camera_rt_enter(CameraManager *cm, int priority, CameraSched *saved);
void camera_rt_leave(const CameraSched *saved);
/* "ptpip:ADDR[:PORT[:EVENTPORT]]", as libgphoto2's ptp2 parses it. */
bool camera_parse_ptpip(const char *port, struct in_addr *addr, uint16_t *cmd, uint16_t *evt);
/* Under w->lock: the recorded sockets are still the camera's. */
bool camera_worker_socks_valid(CameraWorker *w);

int camera_worker_start(CameraWorker *w);
/* Wakes a parked or backing-off worker (stop, kick, arm); w->lock held. */
void camera_worker_wake(CameraWorker *w);
/* Cuts a stuck PTP/IP camera's link (shutdown of its sockets) so that its
 * worker gets an error at once instead of after libgphoto2's own timeout.
 * Called with w->lock held. */
void camera_worker_abort_io(CameraWorker *w);
/* File descriptor 0 open (on /dev/null if it was closed): see
 * fix_ptpip_jpgfd() in camera-worker.c. */
void camera_keep_fd0(void);
/* Tells the loop that something changed (a result, an exit). */
void camera_manager_notify(CameraManager *cm);

/* "ptpip:…" ports use the "PTP/IP Camera" driver. */
static inline bool port_is_ptpip(const char *port) {
        return g_str_has_prefix(port, "ptpip:");
}
static inline bool port_is_usb(const char *port) {
        return g_str_has_prefix(port, "usb:");
}

/* Makes a camera-supplied string safe as a folder or file name: only
 * [A-Za-z0-9._+,:-], other bytes become '_', no leading '.', '-' or '~',
 * at most max bytes. NULL when nothing usable is left. */
char *camera_safe_name(const char *s, size_t max);

void fire_result_clear(FireResult *r);
