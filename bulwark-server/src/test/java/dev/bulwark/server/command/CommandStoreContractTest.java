package dev.bulwark.server.command;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The contract of {@link CommandStore} on every backend: operations, state transitions, tenant isolation. */
@ParameterizedClass
@EnumSource(Backend.class)
class CommandStoreContractTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final TenantId G = TenantId.of(GLOBEX);
    static final DeviceId D = DeviceId.of(DEVICE);
    final CommandStore store = new CommandStore();

    private Command command(TenantId tenant, String id, long created, long expires) {
        return new Command(tenant, id, D, "reboot", JsonNodeFactory.instance.objectNode().put("delay", 5), CommandState.QUEUED, created,
                expires, null, null, null, "alice");
    }

    private CommandState state(TenantId tenant, String id) {
        return sql((Handle h) -> store.find(h, tenant, D, id)).orElseThrow().command().state();
    }

    @Test
    void a_command_is_stored_found_and_listed_newest_first() {
        sql((Handle h) -> {
            store.insert(h, command(A, "cmd-1", 1000, 10_000));
            store.insert(h, command(A, "cmd-2", 2000, 10_000));
            return null;
        });
        Command c = sql((Handle h) -> store.find(h, A, D, "cmd-1")).orElseThrow().command();
        assertThat(c.tenant()).isEqualTo(A);
        assertThat(c.device()).isEqualTo(D);
        assertThat(c.name()).isEqualTo("reboot");
        assertThat(c.params().get("delay").asInt()).isEqualTo(5);
        assertThat(c.state()).isEqualTo(CommandState.QUEUED);
        assertThat(c.createdBy()).isEqualTo("alice");
        assertThat(sql((Handle h) -> store.list(h, A, D, 10))).extracting(r -> r.command().id()).containsExactly("cmd-2", "cmd-1");
        assertThat(sql((Handle h) -> store.list(h, A, D, 1))).hasSize(1);
        assertThat(count("SELECT COUNT(*) FROM commands WHERE state = 'queued'")).as("stored by its wire name").isEqualTo(2);
    }

    @Test
    void queued_delivered_then_succeeded_with_its_result() {
        sql((Handle h) -> {
            store.insert(h, command(A, "cmd-1", 1000, 10_000));
            return null;
        });
        assertThat(sql((Handle h) -> store.queued(h, A, D, 2000))).extracting(r -> r.command().id()).containsExactly("cmd-1");
        assertThat(sql((Handle h) -> store.markDelivered(h, A, D, "cmd-1", 2000))).isTrue();
        assertThat(sql((Handle h) -> store.markDelivered(h, A, D, "cmd-1", 2100))).as("only a queued command becomes delivered").isFalse();
        assertThat(state(A, "cmd-1")).isEqualTo(CommandState.DELIVERED);
        assertThat(sql((Handle h) -> store.queued(h, A, D, 2000))).isEmpty();
        assertThat(sql((Handle h) -> store.complete(h, A, D, "cmd-1", CommandState.SUCCEEDED, "sealed:k:x", 3000))).isTrue();
        var row = sql((Handle h) -> store.find(h, A, D, "cmd-1")).orElseThrow();
        assertThat(row.command().state()).isEqualTo(CommandState.SUCCEEDED);
        assertThat(row.command().deliveredMs()).isEqualTo(2000L);
        assertThat(row.command().completedMs()).isEqualTo(3000L);
        assertThat(row.storedResult()).isEqualTo("sealed:k:x");
        assertThat(sql((Handle h) -> store.complete(h, A, D, "cmd-1", CommandState.FAILED, null, 3100))).as("completed once").isFalse();
    }

    @Test
    void a_queued_command_can_fail_but_not_complete_as_anything_else() {
        sql((Handle h) -> {
            store.insert(h, command(A, "cmd-1", 1000, 10_000));
            return null;
        });
        assertThatThrownBy(() -> sql((Handle h) -> store.complete(h, A, D, "cmd-1", CommandState.EXPIRED, null, 2000)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(sql((Handle h) -> store.complete(h, A, D, "cmd-1", CommandState.FAILED, null, 2000))).isTrue();
        assertThat(state(A, "cmd-1")).isEqualTo(CommandState.FAILED);
    }

    @Test
    void open_commands_past_their_time_to_live_expire_and_take_no_result() {
        sql((Handle h) -> {
            store.insert(h, command(A, "cmd-1", 1000, 5000));
            store.insert(h, command(A, "cmd-2", 1000, 50_000));
            return null;
        });
        assertThat(sql((Handle h) -> store.queued(h, A, D, 5000))).extracting(r -> r.command().id()).containsExactly("cmd-2");
        assertThat(sql((Handle h) -> store.complete(h, A, D, "cmd-1", CommandState.SUCCEEDED, null, 5000))).isFalse();
        assertThat(sql((Handle h) -> store.expire(h, A, 5000))).isEqualTo(1);
        assertThat(state(A, "cmd-1")).isEqualTo(CommandState.EXPIRED);
        assertThat(state(A, "cmd-2")).isEqualTo(CommandState.QUEUED);
        assertThat(sql((Handle h) -> store.expire(h, A, 5000))).isZero();
    }

    @Test
    void another_tenant_never_reads_or_changes_a_command() {
        sql((Handle h) -> {
            store.insert(h, command(A, "cmd-1", 1000, 5000));
            return null;
        });
        assertThat(sql((Handle h) -> store.find(h, G, D, "cmd-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.list(h, G, D, 10))).isEmpty();
        assertThat(sql((Handle h) -> store.queued(h, G, D, 2000))).isEmpty();
        assertThat(sql((Handle h) -> store.markDelivered(h, G, D, "cmd-1", 2000))).isFalse();
        assertThat(sql((Handle h) -> store.complete(h, G, D, "cmd-1", CommandState.SUCCEEDED, "x", 2000))).isFalse();
        assertThat(sql((Handle h) -> store.expire(h, G, 10_000))).isZero();
        assertThat(sql((Handle h) -> store.find(h, A, DeviceId.of("dev-2"), "cmd-1"))).as("nor another device of the tenant").isEmpty();
        var row = sql((Handle h) -> store.find(h, A, D, "cmd-1")).orElseThrow();
        assertThat(row.command().state()).isEqualTo(CommandState.QUEUED);
        assertThat(row.storedResult()).isNull();
        // the same command id in the other tenant is a row of its own
        sql((Handle h) -> {
            store.insert(h, command(G, "cmd-1", 1000, 50_000));
            return null;
        });
        assertThat(sql((Handle h) -> store.expire(h, A, 10_000))).isEqualTo(1);
        assertThat(state(G, "cmd-1")).isEqualTo(CommandState.QUEUED);
    }
}
