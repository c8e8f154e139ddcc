package dev.bulwark.device;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/** The timer threads every device of the process shares (daemon threads: they never keep the JVM alive). */
final class DeviceThreads {
    static final ScheduledExecutorService SHARED = Executors.newScheduledThreadPool(4, r -> {
        Thread t = new Thread(r, "bulwark-device-timer");
        t.setDaemon(true);
        return t;
    });

    private DeviceThreads() {
    }
}
