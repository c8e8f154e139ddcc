package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.testkit.KafkaBroker;
import dev.bulwark.server.testkit.NodeProcess;
import dev.bulwark.server.testkit.PrivatePostgres;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * PostgreSQL fails during ingest, twice. A cluster node (its own JVM, the shared Kafka broker) on a PostgreSQL
 * server of this test's own ({@link PrivatePostgres}: the machine's shared server is never stopped) takes QoS 1
 * telemetry from SDK devices. First the database refuses every write while it still answers reads (as a
 * read-only standby would), then it is stopped as a crash ({@code pg_ctl stop -m immediate}) and started again on
 * the same port and data.
 *
 * <ul>
 *   <li>Back-pressure: while the database does not commit, nothing is acknowledged (a PUBACK only follows a
 *       commit): the batch that fails is refused to its devices, which keep the messages and reconnect with
 *       backoff;</li>
 *   <li>the node recovers by itself (its connection pool reconnects, nothing is restarted) and the devices'
 *       buffered messages are acknowledged;</li>
 *   <li>nothing acknowledged is lost: every message is in the database afterwards, and the node's REST API serves
 *       them;</li>
 *   <li>the pause is visible in the node's metrics: {@code bulwark_telemetry_writer_failed_batches_total} counts the
 *       batches that could not be committed, {@code bulwark_telemetry_writer_stalled} is 1 from a failed commit
 *       until the next one succeeds. {@code GET /metrics} authenticates its bearer token in the database: it
 *       answers while the database refuses writes (the gauge is read at 1 then), not while the database is down
 *       (the counter tells of the outage afterwards).</li>
 * </ul>
 */
class PostgresRestartTest {
    private static final int DEVICES = 3;

    @Test
    void acknowledgements_pause_while_postgresql_is_down_and_resume_when_it_is_back_without_losing_any() throws Exception {
        Path data = Files.createTempDirectory("bulwark-pg-restart-");
        String prefix = "p" + Long.toHexString(Double.doubleToLongBits(Math.random())).substring(0, 10);
        try (PrivatePostgres pg = PrivatePostgres.start();
             NodeProcess node = NodeProcess.start(NodeProcess.Settings.cluster(data, pg.url(), KafkaBroker.shared().bootstrap(), prefix, "node-0"))) {
            String token = StreamingFleet.tenant(node.api(), node.adminToken(), "acme");
            try (StreamingFleet fleet = new StreamingFleet(node::api, token, node.caPem())) {
                URI est = URI.create("https://localhost:" + node.deviceHttpsPort());
                URI mqtt = URI.create("ssl://localhost:" + node.mqttPort());
                fleet.addAll(java.util.stream.IntStream.range(0, DEVICES).mapToObj(i -> "meter-" + i).toList(), est, List.of(mqtt));
                fleet.stream(Duration.ofMillis(5));
                await().atMost(Duration.ofSeconds(20)).until(() -> fleet.acknowledged() >= DEVICES * 200L);
                assertThat(node.metric("bulwark_telemetry_writer_failed_batches_total")).isZero();
                assertThat(node.metric("bulwark_telemetry_writer_stalled")).isZero();

                // 1. the database answers but refuses every write (as a standby would): the pause shows on GET /metrics live
                long readOnly = System.nanoTime();
                writes(pg, false);
                await().atMost(Duration.ofSeconds(10)).until(() -> node.metric("bulwark_telemetry_writer_stalled") == 1.0);
                long refusing = fleet.awaitAcknowledgementsPaused(Duration.ofSeconds(1), Duration.ofSeconds(10));
                assertThat(node.metric("bulwark_telemetry_writer_failed_batches_total")).isPositive();
                assertThat(node.metric("bulwark_telemetry_writer_stalled")).isEqualTo(1.0);
                writes(pg, true);
                await().atMost(Duration.ofSeconds(20)).until(() -> fleet.acknowledged() > refusing + DEVICES * 50L);
                await().atMost(Duration.ofSeconds(5)).until(() -> node.metric("bulwark_telemetry_writer_stalled") == 0.0);
                long readOnlyMs = (System.nanoTime() - readOnly) / 1_000_000;

                // 2. the database crashes and comes back

                long down = System.nanoTime();
                pg.stop(true);
                // the next commit fails: its devices are refused and disconnected, nothing more is acknowledged
                await().atMost(Duration.ofSeconds(15)).until(() -> fleet.devices().values().stream().noneMatch(d -> d.stats().connected()));
                long frozen = fleet.awaitAcknowledgementsPaused(Duration.ofSeconds(1), Duration.ofSeconds(10));
                long pausedMs = (System.nanoTime() - down) / 1_000_000;

                long up = System.nanoTime();
                pg.startAgain();
                await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20)).until(() ->
                        fleet.devices().values().stream().allMatch(d -> d.stats().connected()) && fleet.acknowledged() > frozen + DEVICES * 50L);
                long recoveredMs = (System.nanoTime() - up) / 1_000_000;
                assertThat(node.isAlive()).isTrue();
                // GET /metrics authenticates its token in the database: it answers again now, and tells of the pause
                assertThat(node.metric("bulwark_telemetry_writer_failed_batches_total")).isPositive();
                await().atMost(Duration.ofSeconds(5)).until(() -> node.metric("bulwark_telemetry_writer_stalled") == 0.0);

                long resumed = fleet.acknowledged();
                await().atMost(Duration.ofSeconds(20)).until(() -> fleet.acknowledged() > resumed + DEVICES * 200L);
                fleet.stopStreaming();
                fleet.awaitAllAcknowledged(Duration.ofSeconds(30));

                Map<String, Integer> duplicates = fleet.assertEveryMessageStored(StreamingFleet.storedInDatabase(pg.url(), data));
                fleet.assertEveryMessageStored(fleet.storedViaApi());
                // a batch whose commit failed is refused as a whole and sent again; only one whose COMMIT reached the server
                // while the answer was lost with the connection would be stored twice: at most a window per device
                String measured = String.format("read-only phase %d ms; outage %d ms (failed batches %s); acknowledged again %d ms after "
                        + "PostgreSQL was back; %d messages", readOnlyMs, pausedMs, node.metric("bulwark_telemetry_writer_failed_batches_total"),
                        recoveredMs, fleet.devices().keySet().stream().mapToInt(fleet::sent).sum());
                assertThat(duplicates.values()).as("duplicates (%s): %s", measured, duplicates).allMatch(n -> n <= StreamingFleet.WINDOW);
            }
        } finally {
            NodeKillFailoverTest.deleteTree(data);
        }
    }

    /** Makes PostgreSQL refuse (or accept again) every write of every session, at once: its default for new transactions. */
    private static void writes(PrivatePostgres pg, boolean accepted) throws java.sql.SQLException {
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(pg.url()); java.sql.Statement st = c.createStatement()) {
            st.execute("SET default_transaction_read_only = off");
            st.execute(accepted ? "ALTER SYSTEM RESET default_transaction_read_only" : "ALTER SYSTEM SET default_transaction_read_only = on");
            st.execute("SELECT pg_reload_conf()");
        }
    }
}
