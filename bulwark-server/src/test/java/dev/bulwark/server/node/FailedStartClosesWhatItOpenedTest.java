package dev.bulwark.server.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.BulwarkServer;
import dev.bulwark.server.config.ServerConfig;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node whose start fails half-way (its MQTT port is taken) closes everything it had opened: no writer,
 * bus or event-loop thread of it is left running, and the same data directory starts cleanly afterwards.
 */
class FailedStartClosesWhatItOpenedTest {

    private static List<String> nodeThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(n -> n.startsWith("bulwark-security-events") || n.startsWith("bulwark-bus-") || n.startsWith("bulwark-compactor")
                        || n.startsWith("bulwark-alert-flush") || n.startsWith("bulwark-webhooks") || n.startsWith("vert.x-eventloop"))
                .toList();
    }

    @Test
    void a_start_that_fails_on_a_taken_port_leaves_nothing_running_and_the_node_starts_afterwards(@TempDir Path dir) throws Exception {
        await().atMost(Duration.ofSeconds(20)).until(() -> nodeThreads().isEmpty());
        ServerConfig.Builder config = ServerConfig.builder().dataDir(dir).httpsPort(0).deviceHttpsPort(0).bindAddress("127.0.0.1");
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            assertThatThrownBy(() -> BulwarkServer.start(config.mqttPort(taken.getLocalPort()).build())).isInstanceOf(RuntimeException.class);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> nodeThreads().isEmpty());

        try (BulwarkServer node = BulwarkServer.start(config.mqttPort(0).build())) {
            assertThat(node.mqttPort()).isPositive();
            assertThat(nodeThreads()).isNotEmpty();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> nodeThreads().isEmpty());
    }
}
