package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.server.config.ClusterSettings;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.KafkaBroker;
import dev.bulwark.server.testkit.TestCluster;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;

/** Three nodes share one PostgreSQL database, one data directory and one Kafka: what one writes, all serve. */
class ClusterStartTest {

    @Test
    void three_nodes_start_on_one_database_and_serve_the_same_state() throws Exception {
        try (TestCluster cluster = TestCluster.start(3)) {
            String token = cluster.node(0).tenantWithOperator("acme", "alice", "tenant-admin");
            cluster.node(1).createDevice(token, "thermo-1", "thermo");
            var r = cluster.node(2).api().get("/api/v1/devices/thermo-1", token);
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            // one platform CA for the cluster: a client trusting it reaches every node
            assertThat(cluster.node(2).api().get("/api/v1/devices", token).status()).isEqualTo(200);
            // each node's own files stay apart in the shared data directory
            for (int i = 0; i < 3; i++) {
                assertThat(cluster.node(i).node().portsFile()).isEqualTo(cluster.dataDir().resolve("nodes/node-" + i + "/run/ports.json"));
                assertThat(Files.exists(cluster.node(i).node().portsFile())).isTrue();
            }
            // the topics every node listens to exist, under the cluster's prefix
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.kafkaBootstrap()))) {
                var names = admin.listTopics().names().get();
                String p = cluster.topicPrefix();
                assertThat(names).contains(p + ".control", p + ".node.node-0", p + ".node.node-1", p + ".node.node-2");
            }
        }
    }

    @Test
    void a_second_node_under_a_running_node_id_is_refused_and_a_stopped_node_id_is_free_again() {
        try (TestCluster cluster = TestCluster.start(2)) {
            assertThatThrownBy(() -> cluster.startAs(1)).hasMessageContaining("node id 'node-1' is held by a running node")
                    .hasMessageContaining("--node-id");
            // the running node is unharmed
            String token = cluster.node(1).tenantWithOperator("acme", "alice", "tenant-admin");
            assertThat(cluster.node(0).api().get("/api/v1/devices", token).status()).isEqualTo(200);
            cluster.stop(1);
            cluster.restart(1); // a clean stop gives the id up at once
            assertThat(cluster.node(1).api().get("/api/v1/devices", token).status()).isEqualTo(200);
        }
    }

    @Test
    void a_cluster_node_needs_the_shared_database() {
        assertThatThrownBy(() -> ServerConfig.builder().cluster(new ClusterSettings(List.of(KafkaBroker.shared().bootstrap()), "node-a", null,
                null, null)).build()).hasMessageContaining("--db jdbc:postgresql");
        assertThatThrownBy(() -> new ClusterSettings(List.of("localhost:9092"), "Node_A", null, null, null)).hasMessageContaining("--node-id");
        assertThatThrownBy(() -> new ClusterSettings(List.of("localhost"), "a", null, null, null)).hasMessageContaining("HOST:PORT");
    }
}
