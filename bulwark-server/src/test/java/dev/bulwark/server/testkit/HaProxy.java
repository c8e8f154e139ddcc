package dev.bulwark.server.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Assertions;

/**
 * Debian's HAProxy ({@code /usr/sbin/haproxy}) as the TCP load balancer in front of the nodes' MQTT over TLS
 * listeners, the way a deployment puts one in front of a cluster: TCP mode (TLS passes through to the node,
 * which sees the device's certificate), round robin, a TCP health check of every node's MQTT port every
 * 200 ms (down after one failure, up after two successes), and a connection refused by a node that is down
 * but not yet marked so is dispatched to another ({@code option redispatch}, 3 retries). Its configuration is
 * written in a temporary directory, its ports are ephemeral on 127.0.0.1, and it runs in the foreground as a
 * child process. A statistics listener (HTTP, CSV) tells which nodes HAProxy holds up.
 *
 * <p>When {@code haproxy} is missing the test <b>fails</b>, never skips ({@code .ci/run} installs it).
 */
public final class HaProxy implements AutoCloseable {
    private static final Path BINARY = Path.of("/usr/sbin/haproxy");

    private final Path dir;
    private final int port;
    private final int statsPort;
    private final int apiPort;
    private final Process process;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private HaProxy(Path dir, int port, int statsPort, int apiPort, Process process) {
        this.dir = dir;
        this.port = port;
        this.statsPort = statsPort;
        this.apiPort = apiPort;
        this.process = process;
    }

    /** Starts HAProxy balancing over {@code backends} (server name to MQTT port on 127.0.0.1); waits until each is up. */
    public static HaProxy start(Map<String, Integer> backends) {
        return start(backends, Map.of(), false);
    }

    /**
     * Like {@link #start(Map)}; with {@code sendProxyV2} HAProxy opens every connection to a node (health checks
     * included) with a PROXY protocol v2 header naming the client ({@code send-proxy-v2}), for nodes started with
     * {@code --proxy-protocol}; {@code apiBackends} (server name to REST API port), when not empty, are balanced
     * the same way on {@link #apiPort()}.
     */
    public static HaProxy start(Map<String, Integer> backends, Map<String, Integer> apiBackends, boolean sendProxyV2) {
        if (!Files.isExecutable(BINARY)) {
            // never skipped: a load-balancer test that cannot run fails, with how to install what it needs
            Assertions.fail("HAProxy is not installed (" + BINARY + "): apt-get install -y haproxy (.ci/run installs it)");
        }
        try {
            Path dir = Files.createTempDirectory("bulwark-haproxy-");
            int port = freePort();
            int statsPort = freePort();
            int apiPort = apiBackends.isEmpty() ? -1 : freePort();
            Path config = dir.resolve("haproxy.cfg");
            Files.writeString(config, config(port, statsPort, backends, sendProxyV2)
                    + (apiBackends.isEmpty() ? "" : api(apiPort, apiBackends, sendProxyV2)));
            Process p = new ProcessBuilder(BINARY.toString(), "-db", "-q", "-f", config.toString())
                    .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(dir.resolve("haproxy.log").toFile()).start();
            HaProxy proxy = new HaProxy(dir, port, statsPort, apiPort, p);
            try {
                Awaitility.await("HAProxy up with every node").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100))
                        .ignoreExceptions().until(() -> {
                            if (!p.isAlive()) {
                                throw new AssertionError("haproxy exited: " + Files.readString(dir.resolve("haproxy.log")));
                            }
                            return proxy.status().values().stream().allMatch(s -> s.startsWith("UP"))
                                    && proxy.status().size() == backends.size();
                        });
            } catch (RuntimeException | AssertionError e) {
                proxy.close();
                throw e;
            }
            return proxy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String api(int port, Map<String, Integer> backends, boolean sendProxyV2) {
        StringBuilder b = new StringBuilder("""

                listen api
                    bind 127.0.0.1:%d
                    balance roundrobin
                """.formatted(port));
        backends.forEach((name, p) -> b.append("    server ").append(name).append(" 127.0.0.1:").append(p)
                .append(sendProxyV2 ? " send-proxy-v2" : "").append("\n"));
        return b.toString();
    }

    private static String config(int port, int statsPort, Map<String, Integer> backends, boolean sendProxyV2) {
        StringBuilder b = new StringBuilder("""
                global
                    maxconn 4096

                defaults
                    mode tcp
                    timeout connect 1s
                    timeout client 5m
                    timeout server 5m
                    timeout check 1s
                    retries 3
                    option redispatch

                listen stats
                    mode http
                    bind 127.0.0.1:%d
                    stats enable
                    stats uri /stats

                listen mqtt
                    bind 127.0.0.1:%d
                    balance roundrobin
                """.formatted(statsPort, port));
        backends.forEach((name, p) -> b.append("    server ").append(name).append(" 127.0.0.1:").append(p)
                .append(sendProxyV2 ? " send-proxy-v2" : "").append(" check inter 200ms fall 1 rise 2\n"));
        return b.toString();
    }

    /** The load balancer's MQTT port on 127.0.0.1. */
    public int port() {
        return port;
    }

    /** The load balancer's REST API port on 127.0.0.1 (-1 without API backends). */
    public int apiPort() {
        return apiPort;
    }

    /** HAProxy's view of every node: server name to its status ({@code UP}, {@code DOWN}, {@code UP 1/2}...). */
    public Map<String, String> status() {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + statsPort + "/stats;csv"))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            Map<String, String> status = new LinkedHashMap<>();
            for (String line : r.body().split("\n")) {
                String[] f = line.split(",", -1);
                // # pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,...
                if (f.length > 17 && f[0].equals("mqtt") && !f[1].equals("FRONTEND") && !f[1].equals("BACKEND")) {
                    status.put(f[1], f[17]);
                }
            }
            return status;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Stops HAProxy and deletes its directory. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            // best effort
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
