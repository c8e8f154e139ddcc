package dev.bulwark.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** CPU time a process has used (user plus system, every thread), from Linux's {@code /proc/<pid>/stat}. */
final class ProcCpu {
    private static final long TICKS_PER_SECOND = clockTicks();

    private ProcCpu() {
    }

    /** utime + stime of process {@code pid} in microseconds, or -1 when it cannot be read (no such process, not Linux). */
    static long micros(long pid) {
        return micros(Path.of("/proc", String.valueOf(pid), "stat"));
    }

    /** The same for this JVM. */
    static long self() {
        return micros(Path.of("/proc/self/stat"));
    }

    private static long micros(Path stat) {
        try {
            String s = Files.readString(stat);
            // the command name (field 2) is in parentheses and may hold spaces: count fields after its ')'
            String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split(" ");
            long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 (utime) and 15 (stime)
            return ticks * 1_000_000L / TICKS_PER_SECOND;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static long clockTicks() {
        try {
            Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor();
            long t = Long.parseLong(out);
            return t > 0 ? t : 100;
        } catch (IOException | RuntimeException e) {
            return 100;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 100;
        }
    }
}
