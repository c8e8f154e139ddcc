package dev.bulwark.device;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.DeviceId;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A device executes a command id at most once: delivered twice (a QoS 1 redelivery, a second route), after a
 * restart, or after a crash in the middle of its handler, the id is answered from what the device stored, never
 * run again; and what it stores stays bounded.
 */
class CommandsAtMostOnceTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final DeviceId ID = DeviceId.of("thermo-1");

    @TempDir
    Path state;

    final List<String> sentTopics = new ArrayList<>();
    final List<JsonNode> sent = new ArrayList<>();
    final AtomicInteger runs = new AtomicInteger();

    private InboundMessages device() {
        return new InboundMessages(ID, state, null, cmd -> {
            runs.incrementAndGet();
            return BulwarkDevice.CommandResult.ok(JSON.createObjectNode().put("run", runs.get()).put("of", cmd.id()));
        }, null, (topic, payload) -> {
            sentTopics.add(topic);
            try {
                sent.add(JSON.readTree(payload));
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            return true;
        });
    }

    private static byte[] command(String id) {
        return ("{\"id\":\"" + id + "\",\"name\":\"reboot\",\"params\":{},\"expiresAt\":\"2099-01-01T00:00:00Z\"}")
                .getBytes(StandardCharsets.UTF_8);
    }

    private static final String TOPIC = "devices/thermo-1/commands";

    @Test
    void a_command_delivered_twice_runs_once_and_both_deliveries_are_answered_with_the_same_result() {
        InboundMessages d = device();
        d.handle(TOPIC, command("cmd-1"));
        d.handle(TOPIC, command("cmd-1"));
        assertThat(runs).hasValue(1);
        assertThat(d.commandsHandled()).isEqualTo(1);
        assertThat(d.commandsRepeated()).isEqualTo(1);
        assertThat(sentTopics).containsExactly("devices/thermo-1/commands/cmd-1/result", "devices/thermo-1/commands/cmd-1/result");
        assertThat(sent.get(1)).isEqualTo(sent.get(0));
        assertThat(sent.get(0).toString()).isEqualTo("{\"status\":\"succeeded\",\"result\":{\"run\":1,\"of\":\"cmd-1\"}}");

        d.handle(TOPIC, command("cmd-2")); // another id runs
        assertThat(runs).hasValue(2);
    }

    @Test
    void a_restarted_device_does_not_run_again_what_it_ran_before_and_its_state_file_is_owner_only() throws Exception {
        device().handle(TOPIC, command("cmd-1"));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve(ExecutedCommands.FILE))))
                .isEqualTo("rw-------");

        InboundMessages restarted = device(); // a new process on the same state directory
        restarted.handle(TOPIC, command("cmd-1"));
        assertThat(runs).hasValue(1);
        assertThat(restarted.commandsRepeated()).isEqualTo(1);
        assertThat(sent).hasSize(2);
        assertThat(sent.get(1)).isEqualTo(sent.get(0));
    }

    @Test
    void a_command_interrupted_by_a_crash_is_answered_as_interrupted_on_its_next_delivery_not_run_again() {
        // the crash: the id was stored as started, the handler never returned
        assertThat(new ExecutedCommands(state).begin("cmd-9")).isNull();

        InboundMessages restarted = device();
        restarted.handle(TOPIC, command("cmd-9"));
        assertThat(runs).hasValue(0);
        assertThat(sent).hasSize(1);
        assertThat(sent.get(0).path("status").asText()).isEqualTo("failed");
        assertThat(sent.get(0).path("result").path("reason").asText()).startsWith("interrupted");
    }

    @Test
    void the_ids_kept_are_bounded_the_oldest_forgotten_first() {
        InboundMessages d = device();
        for (int i = 0; i <= ExecutedCommands.CAPACITY; i++) {
            d.handle(TOPIC, command("cmd-" + i));
        }
        assertThat(runs).hasValue(ExecutedCommands.CAPACITY + 1);
        ExecutedCommands stored = new ExecutedCommands(state);
        assertThat(stored.size()).isEqualTo(ExecutedCommands.CAPACITY);
        assertThat(stored.begin("cmd-" + ExecutedCommands.CAPACITY)).as("the newest is kept").isNotNull();
        assertThat(stored.begin("cmd-1")).as("the second oldest is kept").isNotNull();
        assertThat(new ExecutedCommands(state).begin("cmd-0")).as("the oldest was forgotten").isNull();
    }

    @Test
    void a_command_whose_id_cannot_be_stored_is_not_run() throws Exception {
        InboundMessages d = device();
        // the state file cannot be replaced (a non-empty directory in its place): the id cannot be kept
        Files.createDirectories(state.resolve(ExecutedCommands.FILE).resolve("in-the-way"));
        d.handle(TOPIC, command("cmd-1"));
        assertThat(runs).hasValue(0);
        assertThat(sent).isEmpty();
    }
}
